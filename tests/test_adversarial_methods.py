"""Chapter 5's attacks as methods of the command: the critics (attacks.ensemble), the whole-scene
head form of the pipeline, and ``facedid hide-from-detectors`` / ``facedid p-fgvm`` on a real photo."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facedid_lib import cli, detect, methods, pipeline
from facedid_lib.align import extract_chips, head_ellipses, locate_faces
from facedid_lib.align.head import ellipse_mask
from facedid_lib.attacks.ensemble import AwayFrom, Critics, EnsembleIFGSM, HiddenFrom, ThroughJpeg
from facedid_lib.data import facesets as data
from facedid_lib.io.images import read_image, write_image
from facedid_lib.recognize import dlib_resnet

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def photo(data_folder):
    return data.wild_photos(data_folder / "wild")["058405.jpg"]  # 308 x 308, two faces (and two YuNet false alarms)


def as_batch(photo: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255


def test_the_adversarial_methods_are_registered_with_a_whole_scene_head_form():
    for name in ("hide-from-detectors", "p-fgvm"):
        method = methods.get(name)
        assert method.family == "adversarial" and method.head_sees == "photo" and method.region == "head"
    assert methods.REGISTRY["blur"].head_sees == "region"
    assert {"hide-from-detectors", "p-fgvm"} <= {m["name"] for m in cli.catalogue.live()["methods"]}
    with pytest.raises(ValueError, match="head_sees"):
        methods.register("bad-view", "classical", head=True, head_sees="everything")(lambda images: images)


def test_critics_hinges_and_the_jpeg_they_see_through(photo):
    x = as_batch(photo)
    seen = Critics([HiddenFrom("yunet"), HiddenFrom("mmod")])(x)
    assert seen.shape == (1, 2) and bool((seen > 0).all())       # both detectors see faces
    assert Critics([HiddenFrom("yunet")])(torch.full((1, 3, 64, 64), 0.5)).item() == 0  # grey: nothing
    away = AwayFrom("dlib", lambda chips: dlib_resnet.embed(chips)[:, None], 0.6, margin=0.1)
    chips = torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with pytest.raises(RuntimeError, match="reset"):
        away(chips)
    away.reset(chips)
    assert torch.allclose(away(chips), torch.full((2,), 0.7), atol=1e-5)  # the clean faces: still the same people
    # through the JPEG: the critics judge the file's pixels, the gradient reaches the input
    spy = ThroughJpeg(Critics([HiddenFrom("yunet")]), quality=75)
    jpeg = spy._jpeg(x)
    assert 0 < float((jpeg - x).abs().max()) < 0.2
    x.requires_grad_(True)
    score = spy(x)
    score.sum().backward()
    assert torch.allclose(score.detach(), Critics([HiddenFrom("yunet")])(jpeg)) and float(x.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="quality"):
        ThroughJpeg(spy, quality=0)


def test_hide_from_detectors_on_chips_stops_once_no_detector_sees_them(photo):
    found = locate_faces(photo, "yunet", landmarks="detector")
    chips = pipeline.deidentify_photo(photo, lambda c: c, "yunet", landmarks="detector")[1].chips[:2]
    critics = Critics([HiddenFrom("yunet"), HiddenFrom("mmod")])
    attack = EnsembleIFGSM(critics, eps=8 / 255, steps=40)
    hidden = attack(chips, torch.zeros(2, dtype=torch.long))
    assert len(found) == 4 and float((hidden - chips).abs().max()) <= 8 / 255 + 1e-6
    assert bool((critics(hidden) == 0).all()) and attack.history["success"][-1] == 1.0


def test_the_scene_head_form_changes_only_the_heads(photo):
    method = methods.get("hide-from-detectors")
    found = locate_faces(photo, "yunet", landmarks="detector")
    new = pipeline.cover_heads(photo, found, method, {"eps": 4 / 255, "steps": 3})
    height, width = photo.shape[:2]
    heads = torch.zeros(height, width)
    for ellipse in head_ellipses(found.transforms):
        heads = torch.maximum(heads, ellipse_mask(ellipse, (0, width, 0, height)))
    change = np.abs(new.astype(int) - photo)
    assert change[~(heads > 0).numpy()].max() == 0 and 0 < change.max() <= 4
    with pytest.raises(ValueError, match="one set of parameters"):
        pipeline.cover_heads(photo, found, method, {"steps": 1}, each=[{"eps": 1 / 255}] * len(found))


def test_the_command_hides_a_photo_from_yunet_and_mmod(photo, tmp_path):
    """At the defaults YuNet and MMOD find none of the faces in the written JPEG."""
    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "photo.jpg", photo)
    assert cli.main(["hide-from-detectors", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-q"]) == 0
    out = read_image(tmp_path / "out" / "photo.jpg")
    original = read_image(tmp_path / "in" / "photo.jpg")
    assert len(detect.detect(original, "yunet")) == 4 and len(detect.detect(original, "mmod")) == 1
    assert len(detect.detect(out, "yunet")) == 0 and len(detect.detect(out, "mmod")) == 0


def test_the_command_p_fgvm_dodges_dlib(photo, tmp_path):
    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "photo.png", photo)
    assert cli.main(["p-fgvm", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-q"]) == 0
    out = read_image(tmp_path / "out" / "photo.png")
    transforms = locate_faces(photo, "yunet", landmarks="detector").transforms
    before, after = (dlib_resnet.embed(extract_chips(p, transforms), transforms=transforms)
                     for p in (photo, out))
    assert bool(((after - before).norm(dim=1) > 0.6).all())   # dlib no longer matches any face to its owner
