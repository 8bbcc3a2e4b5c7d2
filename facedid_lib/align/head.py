"""The whole head of a face: an ellipse from the landmarks, the face's width, and a feathered mask.

A method that only changes the aligned inner face (:func:`~facedid_lib.align.face_mask`) leaves
the hair line, the ears and the jaw's outline, and that is what detectors and people still see. The
*head* of a face is an ellipse fitted to the same similarity as the chip
(:func:`~facedid_lib.align.chip_transform`), so it follows the landmarks, not a detector's box
(boxes differ from one detector to the next). In the unit face box of dlib's template (the
eyebrows at ``y = 0``, below the mouth at ``y = 1``, the outer eye corners at ``x = 0.12`` and
``0.86``) it is centred at ``(0.5, HEAD_ELLIPSE[0])`` with half-axes ``HEAD_ELLIPSE[1:]``: it
reaches past the ears (``x = -0.45 .. 1.45``; on the wild photos the ears lie about 0.9 face
widths from the eyes' midpoint), over the hair line (``y = -0.85``) and below the chin
(``y = 1.25``; the chin lies at about 1.15); ``scale`` enlarges it about its centre.

The face's *width* is the side of that unit face box in photo pixels: the unit in which a method's
strength is given relative to the face (:mod:`facedid_lib.methods`), so that a 30-pixel face of a
drone frame and a 600-pixel portrait get the same protection.

Example
-------
>>> import numpy as np
>>> from facedid_lib.align.chips import chip_transform
>>> from facedid_lib.align.templates import TEMPLATE5
>>> marks = 100 + 200 * TEMPLATE5          # a face whose unit box is 200 px wide, at (100, 100)
>>> heads = head_ellipses(chip_transform(marks)[None])
>>> [round(float(v)) for v in heads[0, :4]]  # centre x, centre y, half-axes (dlib's fit: 200.5 px per unit)
[201, 141, 190, 211]
>>> round(float(face_widths(chip_transform(marks)[None])[0]), 1)
200.5
"""

from __future__ import annotations

import math

import numpy as np
import torch

from facedid_lib.align.warp import check_transforms, invert

__all__ = ["HEAD_ELLIPSE", "face_widths", "head_ellipses", "head_windows", "ellipse_mask"]

#: The head in unit face-box units: centre y 0.20 (x 0.5), half-axes 0.95 (across) and 1.05 (down).
HEAD_ELLIPSE = (0.20, 0.95, 1.05)


def _unit_to_photo(transforms: np.ndarray, size: int, padding: float) -> np.ndarray:
    """(N, 2, 3) affine maps from unit face-box coordinates to photo pixels."""
    chip_to_photo = invert(check_transforms(transforms))
    unit = size / (1 + 2 * padding)  # chip pixels per unit
    unit_to_chip = np.array([[unit, 0, padding * unit], [0, unit, padding * unit], [0, 0, 1]])
    return chip_to_photo @ unit_to_chip


def face_widths(transforms, size: int = 192, padding: float = 0.4) -> np.ndarray:
    """(N,) the side of each face's unit face box in photo pixels (the chips' ``size`` and ``padding``)."""
    linear = _unit_to_photo(transforms, size, padding)[:, :, :2]
    return np.sqrt(np.abs(np.linalg.det(linear)))


def head_ellipses(transforms, size: int = 192, padding: float = 0.4, scale: float = 1.0) -> np.ndarray:
    """(N, 5) each face's head ellipse in the photo: centre x, centre y, half-axes a (across the face)
    and b (along it), and the angle (radians) of the face's across direction from the photo's x axis.

    ``transforms`` are photo-to-chip transforms made with ``size`` and ``padding``
    (:func:`~facedid_lib.align.chip_transform`); ``scale`` enlarges the ellipse of
    :data:`HEAD_ELLIPSE` about its centre.
    """
    if not (isinstance(scale, (int, float)) and 0 < scale < math.inf):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    maps = _unit_to_photo(transforms, size, padding)
    centre_y, half_x, half_y = HEAD_ELLIPSE
    centres = maps @ np.array([0.5, centre_y, 1.0])
    width = np.sqrt(np.abs(np.linalg.det(maps[:, :, :2])))
    angle = np.arctan2(maps[:, 1, 0], maps[:, 0, 0])
    return np.stack([centres[:, 0], centres[:, 1], scale * half_x * width, scale * half_y * width, angle], axis=1)


def head_windows(ellipses: np.ndarray, height: int, width: int, margin=0.0) -> list:
    """Each ellipse's bounding box, widened by ``margin`` pixels (a number, or one per ellipse) and
    clipped to the photo: ``(x0, x1, y0, y1)`` integer pixel ranges, or None for an ellipse outside it."""
    ellipses = np.asarray(ellipses, dtype=np.float64).reshape(-1, 5)
    margins = np.broadcast_to(np.asarray(margin, dtype=np.float64), (len(ellipses),))
    out = []
    for (cx, cy, a, b, theta), m in zip(ellipses, margins):
        c, s = math.cos(theta), math.sin(theta)
        half_w, half_h = math.hypot(a * c, b * s) + m, math.hypot(a * s, b * c) + m
        x0, x1 = max(0, math.floor(cx - half_w)), min(width, math.ceil(cx + half_w) + 1)
        y0, y1 = max(0, math.floor(cy - half_h)), min(height, math.ceil(cy + half_h) + 1)
        out.append((x0, x1, y0, y1) if x0 < x1 and y0 < y1 else None)
    return out


def ellipse_mask(ellipse, window, feather: float = 0.0, device=None) -> torch.Tensor:
    """An ellipse over the pixels of ``window`` ``(x0, x1, y0, y1)``: 1 inside, 0 outside, float32.

    With ``feather > 0`` (pixels) the mask rises from exactly 0 on the ellipse to 1 over about
    ``feather`` pixels inward, as a smoothstep, so a covered head blends into the photo without a
    seam; pixels at the ellipse's centre are always 1 when ``feather`` is smaller than the short half-axis.
    """
    cx, cy, a, b, theta = (float(v) for v in ellipse)
    if not (a > 0 and b > 0):
        raise ValueError(f"an ellipse needs positive half-axes, got {a} and {b}")
    if not feather >= 0:
        raise ValueError(f"feather must be >= 0 pixels, got {feather!r}")
    x0, x1, y0, y1 = window
    xs = torch.arange(x0, x1, dtype=torch.float32, device=device)[None, :] - cx
    ys = torch.arange(y0, y1, dtype=torch.float32, device=device)[:, None] - cy
    c, s = math.cos(theta), math.sin(theta)
    across, along = xs * c + ys * s, -xs * s + ys * c
    r = torch.sqrt((across / a) ** 2 + (along / b) ** 2)
    if feather == 0:
        return (r < 1).float()
    t = ((1 - r) * min(a, b) / feather).clamp(0, 1)
    return t * t * (3 - 2 * t)
