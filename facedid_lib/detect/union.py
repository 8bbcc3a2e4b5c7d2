"""A union of detectors: the faces that any of them finds, each face once.

A missed face is the worst outcome of a de-identification tool, and detectors of different families
miss different faces (YuNet small and blurred ones less, dlib's MMOD profiles and occluded ones
less). ``detector="yunet+mmod"`` runs both (:func:`~facedid_lib.detect.registry.run_detector`) and
:func:`merge` keeps every face of the first and each face of the next ones that none kept so far
covers. Two boxes are one face when their intersection over union exceeds ``overlap`` or when
either box holds the other's centre (detectors frame faces differently: YuNet's box reaches the
forehead, MMOD's is tighter). Scores of different detectors are not comparable: the order is the
parts' order, each part best first.

Landmarks: where a part gives them (YuNet), the union keeps them; a face that only a part without
landmarks found gets NaN landmarks, which ``align_faces(..., landmarks="auto")`` replaces by dlib's.

Example
-------
>>> import numpy as np
>>> from facedid_lib.detect.base import Detections
>>> a = Detections([[0, 0, 10, 10]], [0.9], np.zeros((1, 5, 2)), scheme="arcface-5")
>>> b = Detections([[1, 1, 11, 11], [50, 50, 60, 60]], [2.0, 1.0])
>>> merged = merge([a, b])
>>> merged.boxes.tolist(), bool(np.isnan(merged.landmarks[1]).all())
([[0.0, 0.0, 10.0, 10.0], [50.0, 50.0, 60.0, 60.0]], True)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from facedid_lib.detect.base import Detections

__all__ = ["iou", "same_face", "merge"]


def iou(a, b) -> float:
    """The intersection over union of boxes ``a`` and ``b`` ``(x0, y0, x1, y1)`` (0 for empty boxes)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def same_face(a: np.ndarray, b: np.ndarray, overlap: float = 0.3) -> bool:
    """Whether boxes ``a`` and ``b`` ``(x0, y0, x1, y1)`` frame one face: IoU above ``overlap``, or
    either box holds the other's centre."""
    if iou(a, b) > overlap:
        return True

    def holds(box, other):
        cx, cy = (other[0] + other[2]) / 2, (other[1] + other[3]) / 2
        return box[0] <= cx <= box[2] and box[1] <= cy <= box[3]

    return holds(a, b) or holds(b, a)


def merge(parts: Sequence[Detections], overlap: float = 0.3) -> Detections:
    """The faces of ``parts`` (each a detector's :class:`Detections`, best first), each face once.

    Every face of the first part is kept; a face of a later part is kept when it is not
    :func:`same_face` as one kept before. The landmarks are kept where the parts give them, in one
    scheme (NaN rows for faces of a part without landmarks); parts with landmarks of different
    schemes are refused.
    """
    parts = list(parts)
    if not parts:
        raise ValueError("a union needs at least one detector's detections")
    kinds = {p.kind for p in parts}
    if len(kinds) > 1:
        raise ValueError(f"a union joins detectors of one kind of object, got {sorted(kinds)}")
    schemes = {p.scheme for p in parts if p.landmarks is not None}
    if len(schemes) > 1:
        raise ValueError(f"a union joins detectors whose landmarks share one scheme, got {sorted(schemes)}")
    scheme = schemes.pop() if schemes else None
    points = next((p.landmarks.shape[1] for p in parts if p.landmarks is not None), 0)
    boxes, scores, marks = [], [], []
    for part in parts:
        before = len(boxes)  # a part's own faces are all kept: only earlier parts' faces can cover one
        for i in range(len(part)):
            box = part.boxes[i]
            if any(same_face(box, kept, overlap) for kept in boxes[:before]):
                continue
            boxes.append(box)
            scores.append(part.scores[i])
            marks.append(part.landmarks[i] if part.landmarks is not None else np.full((points, 2), np.nan))
    landmarks = np.array(marks).reshape(-1, points, 2) if scheme else None
    return Detections(np.array(boxes).reshape(-1, 4), scores, landmarks, parts[0].kind, scheme)
