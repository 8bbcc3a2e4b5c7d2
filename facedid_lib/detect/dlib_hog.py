"""dlib's frontal face detector (HOG features and a linear SVM), registered as detector ``"hog"``.

Dalal and Triggs, "Histograms of oriented gradients for human detection", CVPR 2005; dlib's
``get_frontal_face_detector`` (King, "Max-margin object detection", 2015, trained it), five HOG
filters for frontal and turned faces, searched over an image pyramid.
"""

from __future__ import annotations

import functools

import dlib
import numpy as np

from facedid_lib.core.params import Param
from facedid_lib.detect.base import Detection, Detector
from facedid_lib.detect.registry import register_detector

__all__ = ["HOG"]


@functools.lru_cache(maxsize=None)
def _hog_detector():
    return dlib.get_frontal_face_detector()


@register_detector("hog")
class HOG(Detector):
    """dlib's HOG + linear SVM detector; the score is the SVM's margin (``detector.run``)."""

    kind = "face"
    params = (
        Param("upsample", 1, "times the photo is doubled in size first (finds smaller faces, slower)",
              low=0, high=3, step=1),
        Param("threshold", 0.0, "SVM score a face needs (smaller: more faces, more false ones)",
              low=-2.0, high=3.0, step=0.05),
    )
    sensitive = {"threshold": -0.5}

    def find(self, image: np.ndarray, upsample: int, threshold: float) -> list[Detection]:
        rects, scores, _ = _hog_detector().run(image, upsample, threshold)
        return [Detection(float(r.left()), float(r.top()), float(r.right() + 1), float(r.bottom() + 1), float(s))
                for r, s in zip(rects, scores)]
