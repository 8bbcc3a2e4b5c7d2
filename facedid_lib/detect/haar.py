"""OpenCV's Viola-Jones cascade of Haar features, registered as detector ``"haar"``.

Viola and Jones, "Rapid object detection using a boosted cascade of simple features", CVPR 2001;
the frontal-face cascade that ships with OpenCV (``haarcascade_frontalface_default.xml``).
"""

from __future__ import annotations

import functools
import os

import cv2
import numpy as np

from facedid_lib.core.params import Param
from facedid_lib.detect.base import Detection, Detector
from facedid_lib.detect.registry import register_detector

__all__ = ["Haar"]


@functools.lru_cache(maxsize=None)
def _haar_cascade() -> cv2.CascadeClassifier:
    path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"cannot load OpenCV's Haar cascade {path} (opencv-python-headless 4.x ships it)")
    return cascade


@register_detector("haar")
class Haar(Detector):
    """OpenCV's Viola-Jones cascade; the score is the cascade's level weight (its last stage's sum)."""

    kind = "face"
    params = (
        Param("scale_factor", 1.1, "size step between the scales searched (smaller: slower, more faces)",
              low=1.01, high=2.0, step=0.01),
        Param("min_neighbors", 5, "overlapping raw hits needed to keep a face (larger: fewer false faces)",
              low=0, high=30, step=1),
        Param("min_size", 30, "smallest face searched, in pixels", low=8, high=1000, step=1),
    )
    sensitive = {"min_neighbors": 2, "min_size": 16}

    def find(self, image: np.ndarray, scale_factor: float, min_neighbors: int, min_size: int) -> list[Detection]:
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        boxes, _, weights = _haar_cascade().detectMultiScale3(
            gray, scaleFactor=scale_factor, minNeighbors=min_neighbors, minSize=(min_size, min_size),
            outputRejectLevels=True)
        return [Detection(float(x), float(y), float(x + w), float(y + h), float(s))
                for (x, y, w, h), s in zip(np.reshape(boxes, (-1, 4)), np.ravel(weights))]
