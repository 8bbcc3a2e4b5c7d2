"""Faces aligned to chips and pasted back: landmarks, the chip transform, warping, paste-back.

:mod:`~facedid_lib.align.templates` (where each landmark scheme lies on dlib's unit face box),
:mod:`~facedid_lib.align.landmarks` (dlib's shape predictors), :mod:`~facedid_lib.align.warp`
(affine warps and sampling), :mod:`~facedid_lib.align.chips` (:func:`chip_transform`,
:func:`extract_chips`, :func:`align_faces`, :func:`align_largest`) and
:mod:`~facedid_lib.align.paste` (:func:`face_mask`, :func:`paste_back`, :func:`photo_masks`).
"""

from facedid_lib.align.chips import (LANDMARK_SOURCES, AlignedFaces, align_faces, align_largest, chip_transform,
                                     extract_chips)
from facedid_lib.align.landmarks import landmarks, shape_predictor
from facedid_lib.align.paste import face_mask, paste_back, photo_masks
from facedid_lib.align.templates import TEMPLATE5, TEMPLATES, similarity

__all__ = ["LANDMARK_SOURCES", "AlignedFaces", "align_faces", "align_largest", "chip_transform", "extract_chips",
           "landmarks", "shape_predictor", "face_mask", "paste_back", "photo_masks", "TEMPLATE5", "TEMPLATES",
           "similarity"]
