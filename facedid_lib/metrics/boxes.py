"""Detection against ground-truth boxes: IoU, and average precision and recall at an IoU threshold.

A detection is a true positive when its IoU with a ground-truth box of the same photo, not yet
taken by a better-scoring detection, reaches ``iou`` (0.5: PASCAL VOC's rule, and the one of the
de-detection source, Dasari); every other detection is a false positive. Over all photos, the
detections sorted by score give the precision-recall curve; the **average precision** is the area
under it with precision made monotone (PASCAL VOC 2010 on, every point):

``AP = sum_k (r_k - r_{k-1}) max_{j >= k} p_j``

and the **recall** is the share of ground-truth boxes found by all the detections given (those a
detector reports at its own threshold).

Example
-------
>>> truth = {"a.jpg": [(0, 0, 10, 10)], "b.jpg": [(0, 0, 10, 10), (20, 20, 30, 30)]}
>>> found = {"a.jpg": [(1, 0, 11, 10, 0.9)], "b.jpg": [(40, 40, 50, 50, 0.8), (20, 21, 30, 31, 0.7)]}
>>> ap, recall = average_precision(found, truth)
>>> round(ap, 3), round(recall, 3)
(0.556, 0.667)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["box_iou", "average_precision"]


def box_iou(a, b) -> np.ndarray:
    """IoU of every box of ``a`` (N, 4) with every box of ``b`` (M, 4), boxes ``(x0, y0, x1, y1)``: (N, M).

    >>> box_iou([(0, 0, 2, 2)], [(1, 0, 3, 2), (5, 5, 6, 6)]).round(3)
    array([[0.333, 0.   ]])
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(b, np.float64).reshape(-1, 4)[None, :, :]
    width = (np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])).clip(0)
    height = (np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])).clip(0)
    inter = width * height
    area = lambda box: (box[..., 2] - box[..., 0]).clip(0) * (box[..., 3] - box[..., 1]).clip(0)  # noqa: E731
    union = area(a) + area(b) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def average_precision(detections: Mapping[str, Sequence], truth: Mapping[str, Sequence], iou: float = 0.5
                      ) -> tuple[float, float]:
    """Average precision and recall of ``detections`` against ``truth`` at IoU ``iou``.

    Parameters
    ----------
    detections : photo name -> the detections, each ``(x0, y0, x1, y1, score)`` (a
        :class:`~facedid_lib.detect.Detection` is one).
    truth : photo name -> the ground-truth boxes ``(x0, y0, x1, y1)``; every photo named here is
        scored (a photo with no detections simply finds nothing).
    iou : the IoU a detection needs with a free ground-truth box to count as found.

    Returns
    -------
    (AP, recall), both in [0, 1]; (0, 0) where nothing was detected. Raises ValueError where
    ``truth`` holds no box or ``detections`` names a photo ``truth`` does not.
    """
    if not 0 < iou <= 1:
        raise ValueError(f"iou must lie in (0, 1], got {iou}")
    unknown = set(detections) - set(truth)
    if unknown:
        raise ValueError(f"detections name photos that have no ground truth: {sorted(unknown)}")
    total = sum(len(boxes) for boxes in truth.values())
    if total == 0:
        raise ValueError("truth holds no box")
    scored = []  # (score, true positive?) of every detection
    for name, boxes in truth.items():
        found = sorted((tuple(float(v) for v in d[:5]) for d in detections.get(name, ())), key=lambda d: -d[4])
        free = np.ones(len(boxes), bool)
        overlaps = box_iou([d[:4] for d in found], boxes) if found and len(boxes) else np.zeros((len(found), 0))
        for d, row in zip(found, overlaps):
            row = np.where(free, row, -1.0)
            best = int(row.argmax()) if row.size else -1
            hit = best >= 0 and row[best] >= iou
            if hit:
                free[best] = False
            scored.append((d[4], hit))
    if not scored:
        return 0.0, 0.0
    scored.sort(key=lambda s: -s[0])
    hits = np.cumsum([hit for _, hit in scored])
    precision = hits / np.arange(1, len(scored) + 1)
    recall = hits / total
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.diff(np.concatenate([[0.0], recall]))
    return float((steps * envelope).sum()), float(recall[-1])
