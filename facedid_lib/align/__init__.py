"""Faces aligned to chips and pasted back: landmarks, the chip transform, warping, paste-back.

:mod:`~facedid_lib.align.templates` (where each landmark scheme lies on dlib's unit face box),
:mod:`~facedid_lib.align.landmarks` (dlib's shape predictors), :mod:`~facedid_lib.align.warp`
(affine warps and sampling), :mod:`~facedid_lib.align.chips` (:func:`chip_transform`,
:func:`extract_chips`, :func:`align_faces`, :func:`align_largest`) and
:mod:`~facedid_lib.align.paste` (:func:`face_mask`, :func:`paste_back`, :func:`photo_masks`) and
:mod:`~facedid_lib.align.head` (the whole head: :func:`head_ellipses`, :func:`face_widths`, :func:`ellipse_mask`).
"""

from facedid_lib.align.chips import (LANDMARK_SOURCES, AlignedFaces, align_faces, align_largest, chip_transform,
                                     extract_chips, locate_faces)
from facedid_lib.align.head import HEAD_ELLIPSE, ellipse_mask, face_widths, head_ellipses, head_windows
from facedid_lib.align.landmarks import landmarks, shape_predictor
from facedid_lib.align.paste import face_mask, paste_back, photo_masks
from facedid_lib.align.templates import TEMPLATE5, TEMPLATES, similarity

__all__ = ["LANDMARK_SOURCES", "AlignedFaces", "locate_faces", "align_faces", "HEAD_ELLIPSE", "ellipse_mask",
           "face_widths", "head_ellipses", "head_windows", "align_largest", "chip_transform", "extract_chips",
           "landmarks", "shape_predictor", "face_mask", "paste_back", "photo_masks", "TEMPLATE5", "TEMPLATES",
           "similarity"]
