"""Hiding by default (issue 31): the head region, strengths relative to the face, the fill method,
detector unions and sensitive settings, the check of outputs, and what the command does with them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from facedid_lib import cli, pipeline
from facedid_lib.align import (HEAD_ELLIPSE, TEMPLATE5, chip_transform, ellipse_mask, face_widths, head_ellipses,
                               head_windows, locate_faces)
from facedid_lib.detect import Detections, detect, get_detector
from facedid_lib.detect.union import merge, same_face
from facedid_lib.io.images import read_image, write_image
from facedid_lib.methods import REGISTRY, classical

pytestmark = pytest.mark.usefixtures("one_thread")

THREE = "027779.jpg"  # three faces that YuNet finds


@pytest.fixture(scope="module")
def photo(data_folder):
    return read_image(data_folder / "wild" / THREE)


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------------------------------
# the head's geometry


def test_head_ellipse_follows_the_landmarks_and_the_face_width():
    marks = 100 + 200 * TEMPLATE5  # a unit face box 200 px wide at (100, 100), upright
    transform = chip_transform(marks)[None]
    (cx, cy, a, b, angle), = head_ellipses(transform)
    width = face_widths(transform)[0]
    assert width == pytest.approx(200, rel=0.01)
    assert (cx, cy) == pytest.approx((100 + 0.5 * width, 100 + HEAD_ELLIPSE[0] * width), abs=2)
    assert (a, b) == pytest.approx((HEAD_ELLIPSE[1] * width, HEAD_ELLIPSE[2] * width), rel=1e-6)
    assert abs(angle) < 1e-6
    # a face turned by 30 degrees and half as large turns and shrinks its head
    turn = np.deg2rad(30)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    (_, _, a2, b2, angle2), = head_ellipses(chip_transform(50 + 100 * TEMPLATE5 @ rotation.T)[None])
    assert angle2 == pytest.approx(turn, abs=1e-6)
    assert (a2, b2) == pytest.approx((a / 2, b / 2), rel=0.01)
    assert head_ellipses(transform, scale=1.5)[0, 2] == pytest.approx(1.5 * a)
    with pytest.raises(ValueError, match="scale"):
        head_ellipses(transform, scale=0)


def test_head_windows_clip_to_the_photo_and_skip_heads_outside():
    ellipses = np.array([[10, 10, 30, 40, 0.0], [500, 500, 10, 10, 0.0], [50, 50, 10, 20, math.pi / 2]])
    inside, outside, turned = head_windows(ellipses, 100, 120)
    assert inside == (0, 41, 0, 51) and outside is None
    assert turned == (30, 71, 40, 61)  # turned by 90 degrees: 20 across, 10 down
    assert head_windows(ellipses[:1], 100, 120, margin=5)[0] == (0, 46, 0, 56)


def test_ellipse_mask_is_one_inside_zero_outside_and_feathered():
    ellipse = (20.0, 20.0, 10.0, 15.0, 0.0)
    hard = ellipse_mask(ellipse, (0, 40, 0, 40))
    assert hard[20, 20] == 1 and hard[20, 31] == 0 and hard[36, 20] == 0 and hard[20, 29] == 1
    soft = ellipse_mask(ellipse, (0, 40, 0, 40), feather=4)
    assert soft[20, 20] == 1 and soft[20, 31] == 0
    assert 0 < float(soft[20, 28]) < 1  # within 4 px of the edge
    assert bool((soft <= hard).all())
    with pytest.raises(ValueError, match="half-axes"):
        ellipse_mask((0, 0, 0, 1, 0), (0, 4, 0, 4))


# ------------------------------------------------------------------------------------------------
# methods: the command's parameters, lengths relative to the face, the head forms, fill


def test_command_parameters_are_relative_lengths_with_protective_defaults():
    blur, pixelate, mask = REGISTRY["blur"], REGISTRY["pixelate"], REGISTRY["mask"]
    assert [p.name for p in blur.command_params()] == ["face_sigma"]
    assert [p.name for p in pixelate.command_params()] == ["face_block"]
    assert blur.defaults() == {"sigma": 4.0}  # the library's (the chapters') defaults are unchanged
    assert blur.command_params()[0].default == classical.PROTECTIVE["face_sigma"]
    # the same fraction of the face is the same number of pixels of that face, whatever its size
    assert blur.to_pixels({"face_sigma": 0.25}, 40.0) == {"sigma": 10.0}
    assert blur.to_pixels({"face_sigma": 0.25}, 400.0) == {"sigma": 100.0}
    assert pixelate.to_pixels({"face_block": 0.1}, 123.0) == {"block": 12}  # an int length is rounded
    assert pixelate.to_pixels({"face_block": 0.001}, 30.0) == {"block": 1}  # and at least 1
    assert REGISTRY["gaussian-noise"].command_params()[0].default == classical.PROTECTIVE["noise_sigma"]
    assert blur.region == "head" and mask.region == "inner" and mask.regions == ("inner",)
    for name in ("blur", "pixelate", "gaussian-noise", "impulse-noise", "darken", "negate", "fill"):
        assert REGISTRY[name].head is not None, name
    assert REGISTRY["eigenface"].head is None


def test_blur_region_is_a_blur_of_any_strength():
    torch.manual_seed(0)
    images = torch.rand(1, 3, 60, 80)
    small = classical.blur_region(images, 1.5)
    inner = (..., slice(6, -6), slice(6, -6))  # the borders differ: replicated here, reflected in the chapters'
    assert torch.allclose(small[inner], classical.gaussian_blur(images, 1.5)[inner], atol=1e-5)
    strong = classical.blur_region(images, 200.0)  # larger than the image: no error, nearly flat
    assert strong.shape == images.shape and float(strong.std()) < float(small.std()) / 5
    assert torch.equal(classical.blur_region(images, 0), images)


def test_fill_paints_one_colour():
    images = torch.rand(2, 3, 8, 8)
    assert torch.equal(classical.fill(images, "black"), torch.zeros_like(images))
    assert torch.equal(classical.fill(images, "grey"), torch.full_like(images, 0.5))
    mean = classical.fill(images, "mean")
    assert torch.allclose(mean[:, :, 3, 3], images.mean((-2, -1)))
    with pytest.raises(ValueError, match="colour"):
        REGISTRY["fill"](images, colour="pink")


@pytest.mark.parametrize("name", ["fill", "blur", "pixelate"])
def test_head_region_hides_every_face_of_a_wild_photo(photo, name):
    new, found = pipeline.deidentify_photo(photo, REGISTRY[name], "yunet", cover="head", landmarks="auto")
    assert len(found) == 3 and new.shape == photo.shape
    assert len(detect(new, "yunet")) == 0 and len(detect(new, "hog")) == 0
    # outside every head the photo is bit for bit the same
    ellipses = head_ellipses(found.transforms)
    ys, xs = np.mgrid[:photo.shape[0], :photo.shape[1]]
    outside = np.ones(photo.shape[:2], bool)
    for cx, cy, a, b, t in ellipses:
        across = (xs - cx) * np.cos(t) + (ys - cy) * np.sin(t)
        along = -(xs - cx) * np.sin(t) + (ys - cy) * np.cos(t)
        outside &= (across / a) ** 2 + (along / b) ** 2 >= 1.0001
    np.testing.assert_array_equal(new[outside], photo[outside])


def test_head_region_scales_the_strength_with_the_face(photo):
    """A photo and its half-size copy, blurred at the same fraction of the face: the same look."""
    import cv2

    half = cv2.resize(photo, (photo.shape[1] // 2, photo.shape[0] // 2), interpolation=cv2.INTER_AREA)
    big, found = pipeline.deidentify_photo(photo, REGISTRY["blur"], "yunet", cover="head", face_sigma=0.2)
    small, _ = pipeline.deidentify_photo(half, REGISTRY["blur"], "yunet", cover="head", face_sigma=0.2)
    shrunk = cv2.resize(big, small.shape[1::-1], interpolation=cv2.INTER_AREA)
    ellipse = head_ellipses(found.transforms)[0] / np.array([2, 2, 2, 2, 1])
    window = head_windows(ellipse[None], *small.shape[:2])[0]
    mask = ellipse_mask(ellipse, window).numpy() > 0.5
    x0, x1, y0, y1 = window
    difference = np.abs(shrunk[y0:y1, x0:x1].astype(int) - small[y0:y1, x0:x1])[mask].mean()
    assert difference < 4  # grey levels: the same blur relative to the face


def test_head_region_errors(photo):
    with pytest.raises(ValueError, match="no head form.*blur"):
        pipeline.deidentify_photo(photo, REGISTRY["mask"], "yunet", cover="head")
    with pytest.raises(ValueError, match="cover must be one of"):
        pipeline.deidentify_photo(photo, REGISTRY["blur"], "yunet", cover="hair")
    with pytest.raises(ValueError, match="face_sigma must lie in"):
        pipeline.deidentify_photo(photo, REGISTRY["blur"], "yunet", cover="head", face_sigma=5.0)
    with pytest.raises(ValueError, match="whole-set"):
        list(pipeline.deidentify_photos([("a", photo)], REGISTRY["k-same-pixel"], whole_set=True, cover="head"))


@pytest.mark.parametrize("shape", [(1, 1), (3, 3)])
def test_faces_at_the_border_and_larger_than_the_photo(photo, shape):
    """A face cut by the photo's edge, and a photo that is nothing but a face: covered, no error."""
    found = locate_faces(photo, "yunet", landmarks="detector")
    x0, y0, x1, y1 = found.detections.boxes[0].astype(int)
    cut = np.ascontiguousarray(photo[y0 + (y1 - y0) // 3: y1, x0:x1])  # the lower two thirds of a face
    for image in (cut, np.ascontiguousarray(photo[: photo.shape[0] // 2])):
        new, where = pipeline.deidentify_photo(image, REGISTRY["fill"], "yunet", cover="head", landmarks="auto")
        assert new.shape == image.shape
        for box in where.detections.boxes:
            cx, cy = int((box[0] + box[2]) / 2), int((box[1] + box[3]) / 2)
            assert new[cy, cx].max() == 0  # the face's centre is painted black


# ------------------------------------------------------------------------------------------------
# detectors: unions, sensitive settings, landmarks where the detector has none


def test_union_keeps_each_face_once_and_marks_missing_landmarks():
    a = Detections([[0, 0, 10, 10], [3, 3, 12, 12]], [0.9, 0.8], np.zeros((2, 5, 2)), scheme="arcface-5")
    b = Detections([[1, 1, 11, 11], [50, 50, 60, 60]], [2.0, 1.0])
    merged = merge([a, b])
    assert len(merged) == 3  # a's two overlapping faces both kept (its own NMS decided), b's first is a's
    assert np.isnan(merged.landmarks[2]).all() and not np.isnan(merged.landmarks[:2]).any()
    assert same_face(np.array([0, 0, 100, 100]), np.array([40, 40, 60, 60]))  # centre inside: one face
    assert not same_face(np.array([0, 0, 10, 10]), np.array([20, 20, 30, 30]))
    with pytest.raises(ValueError, match="one scheme"):
        merge([a, Detections([[0, 0, 1, 1]], [1.0], np.zeros((1, 5, 2)), scheme="dlib-5")])


def test_union_and_sensitive_detectors_on_a_photo(photo):
    yunet, union = detect(photo, "yunet"), detect(photo, "yunet+hog")
    assert len(union) >= len(yunet) and union.scheme == "arcface-5"
    assert len(detect(photo, "yunet", sensitive=True)) >= len(yunet)
    assert get_detector("yunet").sensitive == {"score_threshold": 0.3}
    with pytest.raises(ValueError, match="takes no parameters"):
        detect(photo, "yunet+hog", upsample=1)
    with pytest.raises(ValueError, match="each detector once"):
        detect(photo, "yunet+yunet")
    with pytest.raises(ValueError, match="detector must be one of"):
        detect(photo, "yunet+nose")


def test_auto_landmarks_take_dlibs_where_the_detector_has_none(photo):
    found = locate_faces(photo, "yunet+hog", landmarks="auto")
    assert found.chips is None and len(found) >= 3
    assert not np.isnan(found.landmarks).any()
    with pytest.raises(ValueError, match="no landmarks"):
        locate_faces(photo, "hog", landmarks="detector")
    assert locate_faces(photo, "hog", landmarks="auto").scheme == "dlib-5"


# ------------------------------------------------------------------------------------------------
# checking the output


def test_verify_finds_what_a_weak_setting_leaves(photo):
    weak, found = pipeline.deidentify_photo(photo, REGISTRY["blur"], "yunet", cover="inner", landmarks="auto",
                                            sigma=1.0)
    check = pipeline.verify_photo(photo, weak, found, pipeline.verifier_for("yunet"))
    assert check.detector == "mmod" and not check.clean
    assert check.still_matching == 3  # a 1-pixel blur of the inner face: SFace still knows all three
    hidden, found = pipeline.deidentify_photo(photo, REGISTRY["fill"], "yunet", cover="head", landmarks="auto")
    assert pipeline.verify_photo(photo, hidden, found, "mmod").clean
    assert pipeline.verifier_for("yunet+mmod") == "hog"


# ------------------------------------------------------------------------------------------------
# the command


def test_command_defaults_cover_the_whole_head(data_folder, tmp_path, capsys):
    source = tmp_path / "in" / "three.png"
    source.parent.mkdir()
    write_image(source, read_image(data_folder / "wild" / THREE))
    code, out, err = run(capsys, "blur", source, "-o", tmp_path / "out", "-q", "--verify",
                         "--report", tmp_path / "report.json")
    assert code == 0, err
    new = read_image(tmp_path / "out" / "three.png")
    assert len(detect(new, "yunet")) == 0 and len(detect(new, "mmod")) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["region"] == "head" and report["detector"] == "yunet" and report["verifier"] == "mmod"
    entry, = report["files"]
    assert entry["faces"] == 3 and entry["verify"]["faces_found"] == 0 and entry["verify"]["still_matching"] == 0
    assert report["summary"]["verified"] == 1 and report["exit_status"] == 0
    assert "verified 1: 0 still show or match a face" in out


def test_command_exit_status_3_names_what_is_left(data_folder, tmp_path, capsys):
    source = tmp_path / "three.png"
    write_image(source, read_image(data_folder / "wild" / THREE))
    code, out, err = run(capsys, "blur", "--face-sigma", "0.01", "--region", "inner", source, "-o", tmp_path / "out",
                         "-q", "--verify")
    assert code == 3
    assert "not clean" in err and str(tmp_path / "out" / "three.png") in err
    assert "still show or match a face" in out


@pytest.mark.parametrize("argv, message", [
    (["mask", "--region", "head"], "invalid choice: 'head'"),  # mask's own --region: eyes or face
    (["eigenface", "--region", "head", "--faces", "{data}"], "no head form"),
    (["blur", "--face-sigma", "3"], "face_sigma must lie in [0.0, 1.0]"),
    (["blur", "--detector", "yunet+eyes"], "join two or more with +"),
    (["blur", "--threads", "0"], "--threads must be a positive whole number"),
])
def test_command_bad_arguments(data_folder, tmp_path, capsys, argv, message):
    source = tmp_path / "three.png"
    write_image(source, read_image(data_folder / "wild" / THREE))
    argv = [a.format(data=data_folder) for a in argv]
    code, _, err = run(capsys, *argv, source, "-o", tmp_path / "out")
    assert code == 2
    assert message in " ".join(err.split())
    assert not (tmp_path / "out").exists()


def test_threads_follow_what_the_process_may_use(monkeypatch):
    from facedid_lib.cli import run as cli_run

    monkeypatch.setattr(cli_run.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert cli_run.usable_cores() <= 3
    before = torch.get_num_threads()
    try:
        assert cli_run._set_threads(1) == 1 and torch.get_num_threads() == 1 and cli_run._ahead(1) == 0
        # with more, the detector locates the next photo in a thread of its own: torch gets one thread fewer
        assert cli_run._set_threads(3) == 3 and torch.get_num_threads() == 2 and cli_run._ahead(3) == 1
    finally:
        torch.set_num_threads(before)


def test_faces_located_ahead_give_the_same_photos_in_the_same_order(data_folder):
    import threading

    names = [THREE, "000988.jpg", "001382.jpg"]
    photos = [(name, read_image(data_folder / "wild" / name)) for name in names]
    photos.insert(1, ("grey", np.zeros((20, 20), np.uint8)))  # not an RGB photo: its own error, in its place
    photos.insert(2, ("tiny", np.zeros((1, 1, 3), np.uint8)))  # too small to search
    blur = REGISTRY["blur"]

    def results(ahead, cover):
        return list(pipeline.deidentify_photos(photos, blur, detector="yunet", landmarks="auto", cover=cover,
                                               collect=(ValueError,), ahead=ahead, device="cpu",
                                               **({"face_sigma": 0.35} if cover == "head" else {"sigma": 6.0})))

    for cover in ("head", "inner"):
        one, ahead = results(0, cover), results(2, cover)
        assert [r.key for r in ahead] == ["027779.jpg", "grey", "tiny", "000988.jpg", "001382.jpg"]
        assert isinstance(ahead[1].error, ValueError) and ahead[2].found is None and ahead[2].error is None
        for a, b in zip(one, ahead):
            assert (a.key, type(a.error), a.found is None) == (b.key, type(b.error), b.found is None)
            if a.new is not None:
                assert np.array_equal(a.new, b.new) and np.array_equal(a.found.transforms, b.found.transforms)
    # a run left early leaves no thread behind
    run_ = pipeline.deidentify_photos(photos, blur, detector="yunet", landmarks="auto", cover="head",
                                      collect=(ValueError,), ahead=1, face_sigma=0.35)
    next(run_)
    run_.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("facedid-locate")]


@pytest.mark.parametrize("mode", ["L", "CMYK", "I;16"])
def test_command_covers_grayscale_cmyk_and_16_bit_photos(data_folder, tmp_path, capsys, mode):
    from PIL import Image

    rgb = Image.open(data_folder / "wild" / THREE).convert("RGB")
    if mode == "I;16":  # the grey levels spread over 16 bits
        image = Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 257)
    else:
        image = rgb.convert(mode)
    source = tmp_path / ("face.tif" if mode == "CMYK" else "face.png")
    image.save(source)
    code, out, err = run(capsys, "fill", source, "-o", tmp_path / "out", "-q")
    assert code == 0, err
    new = read_image(tmp_path / "out" / source.name)
    assert len(detect(new, "yunet")) == 0
    assert "1 written" in out and "0 with no face found" in out


# ------------------------------------------------------------------------------------------------
# how the defaults are measured (evaluate.hiding)


def test_hiding_measures_faces_left_and_the_weakest_protective_setting(data_folder):
    from facedid_lib.data import COUNTED_FACES, wild_photos
    from facedid_lib.evaluate import hiding

    photos = dict(list(wild_photos(data_folder / "wild").items())[:3])
    counted = {name: COUNTED_FACES[name] for name in photos}
    total = sum(len(c) for c in counted.values())
    table = hiding.hiding_table(photos, {"fill": ("fill", "head", {}), "weak": ("blur", "inner", {"sigma": 1.0})},
                                check=("yunet",), counted=counted)
    assert table.loc["clean", "found yunet"] == total and table.loc["fill", "found yunet"] == 0
    assert table.loc["weak", "found yunet"] == total and (table["counted"] == total).all()
    weakest, tried = hiding.weakest_protective(photos, "pixelate", "face_block", [0.02, 0.5, 0.6], check=("yunet",),
                                               counted=counted)
    assert weakest == 0.5 and tried[0.02]["yunet"] > 0 and tried[0.6]["yunet"] == 0
    assert hiding.chance_bound(120, 30) == pytest.approx(100 * (1 / 30 + 3 * (1 / 30 * 29 / 30 / 120) ** 0.5))
