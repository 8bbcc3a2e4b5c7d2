"""De-detection: the face-region mask, the PGD attack on the MMOD port, detection rates."""

from __future__ import annotations

import numpy as np
import pytest

from facedid_lib.data import facesets as data
from facedid_lib import detect
from facedid_lib.io import images
from facedid_lib.attacks import dedetection


@pytest.fixture(scope="module")
def photo(data_folder):
    return data.wild_photos(data_folder / "wild")["058405.jpg"]  # 308 x 308, one face


def test_face_regions_is_the_union_of_grown_boxes():
    image = np.zeros((100, 120, 3), np.uint8)
    boxes = [detect.Detection(10, 20, 30, 40, 1.0), detect.Detection(100, 80, 130, 110, 1.0)]
    mask = dedetection.face_regions(image, boxes, expand=0.5)
    assert mask.shape == (100, 120)
    assert mask[10:50, 0:40].all() and not mask[51:, :85].any()
    assert mask[65:, 85:].all()  # the second box grown by 15 px, clipped at the border
    assert mask.sum() == 40 * 40 + 35 * 35
    assert not dedetection.face_regions(image, []).any()
    with pytest.raises(ValueError, match="expand"):
        dedetection.face_regions(image, boxes, expand=-1)


def test_hide_faces_changes_only_the_face_region_within_eps(photo, one_thread):
    eps = 8 / 255
    regions = dedetection.face_regions(photo, detect.detect(photo, "mmod"))
    assert regions.any()
    out, record = dedetection.hide_faces(photo, eps=eps, steps=6, mask=regions, device="cpu")
    assert out.dtype == np.uint8 and out.shape == photo.shape
    change = np.abs(out.astype(int) - photo)
    assert change.max() <= 8 and change.max() > 0
    assert change[~regions].max() == 0
    assert len(record) <= 6 and record[-1] < record[0]


def test_hide_faces_bad_input(photo):
    with pytest.raises(TypeError, match="uint8"):
        dedetection.hide_faces(photo.astype(np.float32) / 255)
    with pytest.raises(ValueError, match="positive"):
        dedetection.hide_faces(photo, eps=0)
    with pytest.raises(ValueError, match="steps"):
        dedetection.hide_faces(photo, steps=0)
    with pytest.raises(ValueError, match="mask"):
        dedetection.hide_faces(photo, mask=np.ones((3, 3), bool))


def test_detection_rate(photo):
    assert dedetection.detection_rate([photo], [photo], "hog") == 1.0
    blank = np.full_like(photo, 128)
    assert dedetection.detection_rate([photo], [blank], "hog") == 0.0
    with pytest.raises(ValueError, match="same"):
        dedetection.detection_rate([photo], [], "hog")


def test_hide_faces_is_the_pgd_loop_on_the_score_map(photo, one_thread):
    """HideFaces (the Attack hooks) takes the same steps as the loop written out, bit for bit."""
    import torch

    from facedid_lib.detect import mmod

    eps, alpha, margin, steps = 8 / 255, 2 / 255, 0.5, 4
    regions = dedetection.face_regions(photo, detect.detect(photo, "mmod"))
    out, record = dedetection.hide_faces(photo, eps=eps, alpha=alpha, steps=steps, margin=margin, mask=regions,
                                         device="cpu")
    x = images.to_tensor(photo, "cpu")
    m = torch.from_numpy(regions)[None].float()
    x_i, expected = x.clone(), []
    for _ in range(steps):
        x_i.requires_grad_(True)
        scores, _ = mmod.score_map(x_i)
        loss = (scores + margin).clamp_min(0).sum()
        expected.append(float(scores.detach().max()))
        if float(loss.detach()) == 0:
            break
        grad, = torch.autograd.grad(loss, x_i)
        with torch.no_grad():
            x_i = torch.clamp(x_i - alpha * m * grad.sign(), x - eps, x + eps).clamp(0, 1)
    assert record == expected
    assert np.array_equal(out, (x_i.detach() * 255).round().byte().permute(1, 2, 0).numpy())


def test_precision_table_scores_every_detector_against_the_counted_boxes(data_folder, one_thread):
    from facedid_lib.data import COUNTED_BOXES
    from facedid_lib.evaluate import dedetection as scored

    wild = data.wild_photos(data_folder / "wild")
    photos = {name: wild[name] for name in ("058405.jpg", "000180.jpg")}
    settings = {"original": None, "PGD eps 0.02, 40 iterations": (0.02, 40)}
    table = scored.precision_table(photos, COUNTED_BOXES, settings, progress=False, device="cpu")
    assert list(table.columns[:4]) == ["eps", "iterations", "s / image", "SSIM"]
    assert [c for c in table.columns if c.startswith("AP ")] == ["AP yunet", "AP hog", "AP haar", "AP mmod"]
    clean, attacked = table.loc["original"], table.loc["PGD eps 0.02, 40 iterations"]
    assert clean["recall yunet"] == 1.0 and clean["SSIM"] == 1.0
    assert attacked["recall yunet"] == 0.0 and attacked["AP yunet"] == 0.0 and attacked["SSIM"] > 0.95
    assert attacked["s / image"] > 0
    beside = scored.beside_source(table)
    assert beside.loc["PGD eps 0.02, 40 iterations", "AP (Faster R-CNN, source)"] == 0.0
    assert beside.loc["original", "recall (yunet, ours)"] == 1.0
    with pytest.raises(ValueError, match="ground truth"):
        scored.precision_table({"x.jpg": photos["058405.jpg"]}, COUNTED_BOXES, settings, progress=False)
    with pytest.raises(ValueError, match="no differentiable"):
        scored.precision_table(photos, COUNTED_BOXES, settings, attacked="haar", progress=False)
