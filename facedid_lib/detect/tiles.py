"""Detection on large photos: overlapping tiles and a shrunk copy, duplicates merged.

A detector's memory grows with the pixels it sees (four times per upsampling: dlib's HOG needs
2.8 GB on a 48-megapixel photo at its default upsampling), so :func:`facedid_lib.detect.detect`
searches a photo whose longer side exceeds :data:`DETECT_TILE` with :func:`tiled`.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from facedid_lib.detect.base import Detection, Detections

__all__ = ["DETECT_TILE", "tiled"]

#: Photos whose longer side exceeds this are searched in overlapping tiles of this side.
DETECT_TILE = 1536


def _duplicate(a: Detection, b: Detection) -> bool:
    """Two boxes of one face: they overlap by more than half of the smaller one."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w > 0 and h > 0 and w * h > 0.5 * min(a.area, b.area)


def tiled(image: np.ndarray, run: Callable[[np.ndarray], Detections]) -> Detections:
    """``run`` on overlapping tiles of :data:`DETECT_TILE` pixels and on a copy shrunk to one tile.

    The tiles overlap by a quarter of their side, so every face up to that size lies whole in one
    of them; larger faces are found on the shrunk copy (a face of ``DETECT_TILE / 4`` pixels is
    still ``DETECT_TILE**2 / (4 * longer side)`` pixels there). Boxes of the same face are merged,
    the best score kept (with its landmarks, where the detector gives them).
    """
    height, width = image.shape[:2]
    step = DETECT_TILE * 3 // 4
    found = []

    def starts(side: int) -> list[int]:
        return [*range(0, max(side - DETECT_TILE, 0), step), max(side - DETECT_TILE, 0)]

    for y0 in starts(height):
        for x0 in starts(width):
            tile = np.ascontiguousarray(image[y0:y0 + DETECT_TILE, x0:x0 + DETECT_TILE])
            found.append(run(tile).shifted(x0, y0))
    factor = DETECT_TILE / max(height, width)
    small = cv2.resize(image, (max(1, round(width * factor)), max(1, round(height * factor))),
                       interpolation=cv2.INTER_AREA)
    found.append(run(small).scaled(factor))
    every = Detections.concat(found, found[0].kind).best_first()
    kept: list[int] = []
    for i, d in enumerate(every):
        if not any(_duplicate(d, every[k]) for k in kept):
            kept.append(i)
    return every.take(kept)
