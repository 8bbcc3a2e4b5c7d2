"""YuNet in PyTorch: the folded ONNX graph, the port against OpenCV's FaceDetectorYN, gradients,
and de-detection against it (HideFaces with detector="yunet")."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facedid_lib import detect
from facedid_lib.attacks import dedetection
from facedid_lib.data import facesets as data
from facedid_lib.detect import yunet, yunet_net
from facedid_lib.weights.onnx_float import dequantize


@pytest.fixture(scope="module")
def wild(data_folder):
    return data.wild_photos(data_folder / "wild")


def test_dequantize_blocks_along_either_axis():
    q = np.array([[1, 2, 3], [4, 5, 6]], np.int8)
    rows = dequantize(q, np.array([[2.0], [0.5]], np.float32), np.array([[1], [0]], np.int8), axis=1, block_size=3)
    assert np.array_equal(rows, [[0, 2, 4], [2, 2.5, 3]])
    cols = dequantize(q, np.array([[1.0, 10.0, 100.0]], np.float32), np.zeros((1, 3), np.int8), axis=0,
                      block_size=2)
    assert np.array_equal(cols, [[1, 20, 300], [4, 50, 600]])


def test_the_port_finds_what_opencv_finds_on_every_wild_photo(wild, one_thread):
    """The same faces in the same order: boxes and landmarks within 1e-3 px, scores within 1e-5."""
    check = yunet_net.agreement(wild, device="cpu")
    assert check["faces"] == (30, 30) and check["photos that differ"] == []
    assert check["largest box difference"] < 1e-3 and check["largest landmark difference"] < 1e-3
    assert check["largest score difference"] < 1e-5
    # a lower threshold finds the same extra faces as OpenCV at that threshold
    photo = wild["084596.jpg"]
    assert len(yunet_net.detect_yunet_torch(photo, 0.3, device="cpu")) == len(yunet.detect_yunet(photo, 0.3)) > 2


def test_score_map_batches_and_has_gradients(wild, one_thread):
    photo = wild["058405.jpg"]
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255
    single = yunet_net.score_map(x, device="cpu")
    both = yunet_net.score_map(torch.cat([x, x.flip(-1)]), device="cpu")
    assert both.shape[0] == 2 and torch.allclose(both[0], single[0], atol=1e-5)
    assert 0 <= float(single.min()) and float(single.max()) <= 1
    assert float(single.max()) >= 0.6  # the face is there
    x.requires_grad_(True)
    yunet_net.score_map(x, device="cpu").amax().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="N, 3, H, W"):
        yunet_net.yunet_net("cpu")(x[0])


def test_differentiable_detectors_are_declared_in_the_registry():
    assert [name for name in detect.detector_names() if detect.get_detector(name).differentiable] == ["mmod", "yunet"]
    assert dedetection.threshold_and_margin("mmod") == (0.0, 0.5)
    assert dedetection.threshold_and_margin("yunet") == pytest.approx((0.6, 0.3))
    with pytest.raises(ValueError, match="no differentiable form.*mmod"):
        dedetection.HideFaces(detector="hog")
    with pytest.raises(NotImplementedError):
        detect.get_detector("haar").score_map(torch.zeros(1, 3, 8, 8))


def test_hide_faces_from_yunet(wild, one_thread):
    photo = wild["058405.jpg"]
    out, record = dedetection.hide_faces(photo, eps=5 / 255, steps=40, detector="yunet", device="cpu")
    change = np.abs(out.astype(int) - photo)
    regions = dedetection.face_regions(photo, detect.detect(photo, "yunet"))
    assert 0 < change.max() <= 5 and change[~regions].max() == 0
    assert record[0] >= 0.6 and record[-1] < 0.6
    assert len(detect.detect(photo, "yunet")) == 4 and len(detect.detect(out, "yunet")) == 0
