"""Tests of the detector protocol (facedid_lib.detect): Detections, the registry by name, YuNet's
landmarks and the alignment by a detector's own landmarks, and the whole-set pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facedid_lib import align, detect, pipeline
from facedid_lib.align import templates
from facedid_lib.attacks import dedetection
from facedid_lib.core.params import Param
from facedid_lib.core.registry import UnknownName
from facedid_lib.detect import tiles
from facedid_lib.io import images

GROUP = "027779.jpg"  # three faces


@pytest.fixture(scope="module")
def group(data_folder) -> np.ndarray:
    return images.read_image(data_folder / "wild" / GROUP)


# ------------------------------------------------------------------------------------------------
# Detections


def test_detections_is_a_sequence_of_detection():
    found = detect.Detections([[0, 0, 10, 10], [5, 5, 20, 30], [1, 2, 3, 4]], [0.5, 2.0, 0.5])
    assert len(found) == 3 and found.kind == "face" and found.landmarks is None and found.scheme is None
    assert found[1] == detect.Detection(5.0, 5.0, 20.0, 30.0, 2.0) and found[1].area == 375.0
    assert found == list(found) and found != list(found)[::-1]
    best = found.best_first()
    assert [d.score for d in best] == [2.0, 0.5, 0.5] and best[1:] == [found[0], found[2]]  # stable on ties
    assert found[[2, 0]] == [found[2], found[0]]


def test_detections_move_their_landmarks_with_their_boxes():
    marks = np.arange(2 * 5 * 2, dtype=float).reshape(2, 5, 2)
    found = detect.Detections([[0, 0, 10, 10], [20, 20, 30, 30]], [1, 2], marks, "face", "arcface-5")
    moved = found.shifted(100, 50).scaled(2)
    assert np.allclose(moved.boxes, (found.boxes + [100, 50, 100, 50]) / 2)
    assert np.allclose(moved.landmarks, (marks + [100, 50]) / 2) and moved.scheme == "arcface-5"
    assert np.array_equal(found.best_first().landmarks, marks[::-1])
    assert detect.Detections.concat([found, found.take([0])]).landmarks.shape == (3, 5, 2)
    assert detect.Detections.concat([found, detect.Detections([[1, 1, 2, 2]], [1])]).landmarks is None


@pytest.mark.parametrize("args, words", [
    (([[0, 0, 1, 1]], [1, 2]), "same length"),
    (([[0, 0, 1, 1]], [1], np.zeros((2, 5, 2)), "face", "arcface-5"), "landmarks must have shape"),
    (([[0, 0, 1, 1]], [1], np.zeros((1, 5, 2))), "scheme"),
    (([[0, 0, 1, 1]], [1], None, ""), "kind"),
])
def test_detections_refuse_inconsistent_parts(args, words):
    with pytest.raises(ValueError, match=words):
        detect.Detections(*args)


# ------------------------------------------------------------------------------------------------
# the registry


def test_unknown_detector_names_the_known_ones(group):
    for call in (lambda: detect.detect(group, "yolo"), lambda: detect.detector_params("yolo"),
                 lambda: align.align_faces(group, "yolo")):
        with pytest.raises(UnknownName) as caught:
            call()
        assert all(name in str(caught.value) for name in ("haar", "hog", "mmod", "yunet")), caught.value
        assert isinstance(caught.value, ValueError) and isinstance(caught.value, KeyError)
    assert detect.detector_names()[:4] == ("hog", "haar", "mmod", "yunet")


def test_a_new_detector_is_one_class_and_one_registration(group, monkeypatch):
    """The example of ARCHITECTURE.md: a class with its kind, parameters and ``find``, registered."""

    @detect.register_detector("centre-plate")
    class CentrePlate(detect.Detector):
        """A "plate" in the middle of the image, ``side`` of its size, with its four corners."""

        kind = "plate"
        params = (Param("side", 0.5, "box side, a fraction of the image", low=0.1, high=1.0, step=0.05),)

        def find(self, image, side):
            height, width = image.shape[:2]
            x0, x1 = width * (1 - side) / 2, width * (1 + side) / 2
            y0, y1 = height * (1 - side) / 2, height * (1 + side) / 2
            corners = np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]])
            return detect.Detections([[x0, y0, x1, y1]], [1.0], corners, self.kind, "corners-4")

    try:
        assert "centre-plate" in detect.detector_names()
        assert [p.name for p in detect.DETECTOR_PARAMS["centre-plate"]] == ["side"]
        found = detect.detect(group, "centre-plate", side=0.2)
        height, width = group.shape[:2]
        assert found.kind == "plate" and found.scheme == "corners-4" and len(found) == 1
        assert np.allclose(found.boxes[0], [width * 0.4, height * 0.4, width * 0.6, height * 0.6])
        with pytest.raises(ValueError, match="side"):
            detect.detect(group, "centre-plate", side=3.0)
        with pytest.raises(ValueError, match="no template"):  # its landmarks are no face's
            align.align_faces(group, "centre-plate", landmarks="detector")
        # the de-detection measures face detectors only, the attacked one first
        assert "centre-plate" not in dedetection.measured_detectors()
        # a large photo is searched in tiles: the landmarks follow their boxes into the photo
        monkeypatch.setattr(tiles, "DETECT_TILE", 200)
        tiled = detect.detect(group, "centre-plate", side=0.2)
        assert len(tiled) >= 1 and np.allclose(tiled.landmarks[:, 0], tiled.boxes[:, :2])
    finally:
        del detect.DETECTORS["centre-plate"]
    assert "centre-plate" not in detect.detector_names()


def test_a_new_face_detector_joins_the_dedetection_measures(group):
    detect.register_detector("everything", lambda image: [detect.Detection(0, 0, image.shape[1], image.shape[0], 1.0)])
    try:
        assert dedetection.measured_detectors() == ("mmod", "hog", "haar", "yunet", "everything")
        assert len(detect.detect(group, "everything")) == 1
    finally:
        del detect.DETECTORS["everything"]
    assert dedetection.measured_detectors() == ("mmod", "hog", "haar", "yunet")


def test_chip_detectors_come_from_the_registry(faceset):
    chips = faceset[1].images[:4]
    for name, params, factory in [("hog", {"upsample": 0}, detect.hog_detector), ("yunet", {}, detect.yunet_detector)]:
        by_name = detect.on_chips.chip_detector(name, **params)(chips)
        assert torch.equal(by_name, factory()(chips))
        assert by_name.dtype == torch.bool and bool(by_name.any())
    with pytest.raises(ValueError, match="yolo"):
        detect.on_chips.chip_detector("yolo")


# ------------------------------------------------------------------------------------------------
# YuNet's landmarks and the alignment by them


def test_yunet_gives_five_plausible_landmarks(group):
    found = detect.detect(group, "yunet")
    assert len(found) == 3 and found.scheme == "arcface-5" and found.landmarks.shape == (3, 5, 2)
    for box, marks in zip(found, found.landmarks):
        right_eye, left_eye, nose, mouth_right, mouth_left = marks
        width = box.x1 - box.x0
        assert box.x0 <= marks[:, 0].min() and marks[:, 0].max() <= box.x1  # inside the box
        assert box.y0 <= marks[:, 1].min() and marks[:, 1].max() <= box.y1
        assert right_eye[0] < left_eye[0] and mouth_right[0] < mouth_left[0]  # the subject's right: image left
        assert max(right_eye[1], left_eye[1]) < nose[1] < min(mouth_right[1], mouth_left[1])  # eyes, nose, mouth
        assert 0.2 * width < np.linalg.norm(left_eye - right_eye) < 0.7 * width
        # the eyes where dlib's five-point model puts the middle of each eye's two corners
        dlib_marks = align.landmarks(group, box)
        dlib_eyes = np.array([dlib_marks[2:4].mean(0), dlib_marks[0:2].mean(0)])
        assert np.abs(dlib_eyes - marks[:2]).max() < 0.1 * width


def test_alignment_by_the_detectors_landmarks(group):
    by_dlib = align.align_faces(group, "yunet", size=96, device="cpu")
    assert by_dlib.scheme == "dlib-5"  # the default is dlib's landmarks, whatever the detector
    default = align.align_faces(group, "yunet", size=96, device="cpu", landmarks="dlib")
    assert np.array_equal(by_dlib.transforms, default.transforms) and torch.equal(by_dlib.chips, default.chips)
    by_yunet = align.align_faces(group, "yunet", size=96, device="cpu", landmarks="detector")
    assert by_yunet.scheme == "arcface-5" and by_yunet.chips.shape == (3, 3, 96, 96)
    assert by_yunet.detections == by_dlib.detections
    assert np.array_equal(by_yunet.landmarks, detect.detect(group, "yunet").landmarks)
    assert not np.array_equal(by_yunet.transforms, by_dlib.transforms)
    # the detector's landmarks land on their template in the chip ...
    template = (0.4 + templates.TEMPLATES["arcface-5"]) / 1.8 * 96
    for transform, marks in zip(by_yunet.transforms, by_yunet.landmarks):
        in_chip = marks @ transform[:, :2].T + transform[:, 2]
        assert np.abs(in_chip - template).max() < 0.12 * 96
    # ... and the chips show the faces where dlib's chips show them (the same template frame)
    eyes = np.array([templates.TEMPLATE5[2:4].mean(0), templates.TEMPLATE5[0:2].mean(0)])
    eyes = (0.4 + eyes) / 1.8 * 96
    for transform, marks in zip(by_yunet.transforms, by_dlib.landmarks):
        dlib_eyes = np.array([marks[2:4].mean(0), marks[0:2].mean(0)])
        assert np.abs(dlib_eyes @ transform[:, :2].T + transform[:, 2] - eyes).max() < 0.06 * 96
    assert float((by_yunet.chips - by_dlib.chips).abs().mean()) < 0.1


def test_alignment_by_landmarks_a_detector_does_not_give(group):
    with pytest.raises(ValueError, match="gives no landmarks"):
        align.align_faces(group, "hog", landmarks="detector")
    with pytest.raises(ValueError, match="landmarks must be one of"):
        align.align_faces(group, "yunet", landmarks="yunet")
    with pytest.raises(ValueError, match="scheme must be one of"):
        align.chip_transform(np.zeros((5, 2)), scheme="dlib-68")


def test_arcface_template_keeps_dlibs_eyes():
    arcface, dlib5 = templates.TEMPLATES["arcface-5"], templates.TEMPLATE5
    assert np.allclose(arcface[0], dlib5[2:4].mean(0)) and np.allclose(arcface[1], dlib5[0:2].mean(0))
    assert arcface[0, 1] < arcface[2, 1] < arcface[3, 1]  # eyes above the nose tip above the mouth


# ------------------------------------------------------------------------------------------------
# one pipeline: per face and whole-set


def _mean_face(chips):
    """A whole-set method: every face becomes the mean of all faces."""
    return chips.mean(0, keepdim=True).expand_as(chips).clone()


def test_whole_set_runs_once_on_all_faces(data_folder):
    names = ["027779.jpg", "058405.jpg", "000180.jpg"]
    photos = [(n, images.read_image(data_folder / "wild" / n)) for n in names]
    seen = []

    def method(chips):
        seen.append(len(chips))
        return _mean_face(chips)

    results = list(pipeline.deidentify_photos(photos, method, whole_set=True, size=64, device="cpu"))
    found = [align.align_faces(p, size=64, device="cpu") for _, p in photos]
    assert seen == [sum(len(f) for f in found)]  # once, on every face of every photo
    assert [r.key for r in results] == names
    mean = _mean_face(torch.cat([f.chips for f in found]))
    start = 0
    for result, (_, photo), faces in zip(results, photos, found):
        expected = align.paste_back(photo, mean[start:start + len(faces)], faces.transforms, device="cpu")
        start += len(faces)
        assert np.array_equal(result.new, expected)
    # per face, the same method sees one photo's faces at a time
    seen.clear()
    per_face = list(pipeline.deidentify_photos(photos, method, size=64, device="cpu"))
    assert seen == [len(f) for f in found] and [r.key for r in per_face] == names


def test_whole_set_failures(data_folder):
    photo = images.read_image(data_folder / "wild" / GROUP)
    tiny = np.zeros((1, 1, 3), np.uint8)

    def refuse(chips):
        raise ValueError("k must not exceed the number of faces")

    with pytest.raises(pipeline.WholeSetFailed, match="3 face.*2 photo.*k must not exceed") as caught:
        list(pipeline.deidentify_photos([("a", photo), ("b", tiny)], refuse, whole_set=True, size=32, device="cpu"))
    assert (caught.value.faces, caught.value.photos) == (3, 2)
    # a photo too small to search comes back without faces; a declined one does not come back
    results = list(pipeline.deidentify_photos([("a", photo), ("b", tiny)], _mean_face, whole_set=True, size=32,
                                              device="cpu", wanted=lambda key: key == "b"))
    assert [(r.key, r.found, r.new) for r in results] == [("b", None, None)]
