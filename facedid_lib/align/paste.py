"""Paste-back: processed chips warped back into the photo and blended over it with a face mask.

:func:`face_mask` is where a chip's face is (an ellipse around dlib's face box, with a soft edge),
:func:`paste_back` warps chips back through the inverses of their transforms and blends each over
the photo with its mask, :func:`photo_masks` is where it writes.

Example
-------
>>> from facedid_lib.align import align_faces
>>> found = align_faces(photo, "hog", device="cpu")
>>> grey = paste_back(photo, found.chips * 0 + 0.5, found.transforms, device="cpu")
>>> grey.shape == photo.shape, bool((grey != photo).any())
(True, True)
"""

from __future__ import annotations

import numpy as np
import torch

from facedid_lib.align.warp import apply_transforms, check_transforms, crop, inside_photo, invert, sample
from facedid_lib.core.checks import check_images
from facedid_lib.core.config import resolve_device
from facedid_lib.io.images import check_photo, copy_photo, photo_size

__all__ = ["face_mask", "paste_back", "photo_masks", "write_pixels"]

#: The face ellipse in face-box units (dlib's template spans the unit box from the eyebrows to
#: below the mouth): centre (0.5, 0.42), half-axes 0.70 and 0.85, so it reaches the cheeks'
#: outline (-0.2 to 1.2), the forehead (-0.43, the chip's top at padding 0.4) and the chin (1.27).
_ELLIPSE = (0.42, 0.70, 0.85)


def face_mask(size: int = 192, padding: float = 0.4, feather: float = 0.15, device=None) -> torch.Tensor:
    """Where a chip's face is: 1 over the face, falling smoothly to exactly 0 at an ellipse.

    The ellipse surrounds dlib's face box (the central ``1 / (1 + 2 padding)`` of the chip; the
    5-point template spans it from the eyebrows to below the mouth), widened to the cheeks and
    stretched up over the lower forehead and down over the chin (see ``_ELLIPSE``). It is shrunk
    where needed to stay inside the chip, so the mask is 0 on the chip's border. Inside it the
    mask rises from 0 to 1 over about ``feather * size`` pixels (a smoothstep), so a pasted chip
    blends into the photo without a seam.

    Parameters
    ----------
    size, padding : the chip's, as in :func:`chip_transform`.
    feather : width of the soft edge, as a fraction of ``size`` (0: a hard edge).
    device : where the mask is made (None: the library default).

    Returns
    -------
    (size, size) float32 tensor in [0, 1].
    """
    if not isinstance(size, (int, np.integer)) or size < 2:
        raise ValueError(f"size must be an int >= 2, got {size!r}")
    if not padding >= 0:
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    if not 0 <= feather <= 0.5:
        raise ValueError(f"feather must lie in [0, 0.5], got {feather!r}")
    device = resolve_device(device)
    unit = size / (1 + 2 * padding)  # chip pixels per face-box side
    centre_y, half_x, half_y = _ELLIPSE
    cx, cy = (size - 1) / 2, (padding + centre_y) * unit - 0.5
    ax = min(half_x * unit, cx)
    ay = min(half_y * unit, cy, size - 1 - cy)
    grid = torch.arange(size, dtype=torch.float32, device=device)
    r = torch.sqrt(((grid[None, :] - cx) / ax) ** 2 + ((grid[:, None] - cy) / ay) ** 2)
    if feather == 0:
        return (r < 1).float()
    t = ((1 - r) * min(ax, ay) / (feather * size)).clamp(0, 1)
    return t * t * (3 - 2 * t)


def paste_back(photo, chips: torch.Tensor, transforms, padding: float = 0.4, feather: float = 0.15,
               device=None):
    """Warp processed chips back into the photo and blend each over it with its face mask.

    Every chip goes back through the inverse of its transform; its :func:`face_mask` decides how
    much of it shows. Later chips are blended over earlier ones. Photo pixels where every warped
    mask is exactly 0 are returned bit for bit unchanged. Chip pixels that lay outside the photo
    (black in a dlib chip) are left out of the interpolation, so no dark seam appears at the
    photo's border.

    Parameters
    ----------
    photo : (H, W, 3) uint8 RGB array or (3, H, W) float tensor in [0, 1].
    chips : (N, 3, size, size) float tensor in [0, 1], e.g. a method's output.
    transforms : (N, 2, 3) photo-to-chip transforms the chips were made with.
    padding, feather : of the chips and of their mask, see :func:`face_mask`.
    device : where the blending runs (None: the chips' device).

    Returns
    -------
    A new photo of the input's type (and device), the input untouched.
    """
    check_photo(photo)
    check_images(chips, "chips")
    transforms = check_transforms(transforms)
    if len(transforms) != len(chips) or chips.shape[2] != chips.shape[3]:
        raise ValueError(f"chips must be square, one per transform: got chips {tuple(chips.shape)} "
                         f"and {len(transforms)} transforms")
    device = resolve_device(device, chips)
    dtype = photo.dtype if isinstance(photo, torch.Tensor) and photo.dtype == torch.float64 else torch.float32
    height, width = photo_size(photo)
    size = chips.shape[-1]
    mask = face_mask(size, padding, feather, device).to(dtype)
    grid = np.arange(size, dtype=np.float64)
    x, y = apply_transforms(invert(transforms), grid[None, :], grid[:, None])
    inside = torch.from_numpy(inside_photo(x, y, height, width)).to(device, dtype)
    windows = [_chip_coordinates(transform, size, height, width) for transform in transforms]
    result = copy_photo(photo)
    # Only the windows the chips cover are worked on, in floats; overlapping windows are blended in
    # one buffer (later chips over earlier ones), so the photo is rounded once, as if done whole.
    for group in _overlapping(windows):
        x0 = min(windows[i][0][0] for i in group)
        x1 = max(windows[i][0][1] for i in group)
        y0 = min(windows[i][0][2] for i in group)
        y1 = max(windows[i][0][3] for i in group)
        out = crop(photo, x0, x1, y0, y1, device).to(dtype, copy=True)  # a tensor photo is never changed
        touched = torch.zeros(y1 - y0, x1 - x0, dtype=torch.bool, device=device)
        for i in group:
            (a0, a1, b0, b1), (u, v) = windows[i]
            stack = torch.cat([chips[i].to(device, dtype) * inside[i], mask[None], inside[i][None]])
            sampled = sample(stack, u, v)[0]
            weight = torch.where(sampled[4] > 0, sampled[3], torch.zeros_like(sampled[3]))
            colour = (sampled[:3] / sampled[4].clamp_min(1e-12)).clamp(0, 1)
            region = out[:, b0 - y0:b1 - y0, a0 - x0:a1 - x0]
            out[:, b0 - y0:b1 - y0, a0 - x0:a1 - x0] = torch.where(weight > 0, region + weight * (colour - region),
                                                                   region)
            touched[b0 - y0:b1 - y0, a0 - x0:a1 - x0] |= weight > 0
        write_pixels(result, out, touched, x0, y0)
    return result


def photo_masks(photo, transforms, size: int = 192, padding: float = 0.4, feather: float = 0.15,
                device=None) -> torch.Tensor:
    """Each chip's :func:`face_mask`, warped into the photo: where :func:`paste_back` writes.

    Parameters
    ----------
    photo : (H, W, 3) uint8 RGB array or (3, H, W) float tensor in [0, 1] (only its size is used).
    transforms, size, padding, feather : as given to :func:`extract_chips` and :func:`paste_back`.
    device : where the masks are made (None: the photo tensor's device, or the library default).

    Returns
    -------
    (N, H, W) float tensor in [0, 1]; 0 wherever ``paste_back`` leaves the photo unchanged.
    """
    check_photo(photo)
    transforms = check_transforms(transforms)
    device = resolve_device(device, photo if isinstance(photo, torch.Tensor) else None)
    height, width = (photo.shape[:2] if isinstance(photo, np.ndarray) else photo.shape[1:])
    mask = face_mask(size, padding, feather, device)
    masks = torch.zeros(len(transforms), height, width, device=device)
    for i, transform in enumerate(transforms):
        window = _chip_coordinates(transform, size, height, width)
        if window is None:
            continue
        (x0, x1, y0, y1), (u, v) = window
        masks[i, y0:y1, x0:x1] = sample(mask[None], u, v)[0, 0]
    return masks


def _footprint(transform: np.ndarray, size: int, height: int, width: int):
    """The photo's pixel window (x range, y range) that a chip covers, or None when outside."""
    corners = invert(transform[None])[0] @ np.array([[0, size - 1, 0, size - 1],
                                                      [0, 0, size - 1, size - 1], [1, 1, 1, 1]])
    x0, y0 = np.maximum(np.floor(corners.min(1)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(corners.max(1)).astype(int) + 1, (width, height))
    return ((x0, x1), (y0, y1)) if x0 < x1 and y0 < y1 else None


def _chip_coordinates(transform: np.ndarray, size: int, height: int, width: int):
    """The photo window a chip covers and the chip coordinates (u, v) of its pixels, or None."""
    window = _footprint(transform, size, height, width)
    if window is None:
        return None
    (x0, x1), (y0, y1) = window
    u, v = apply_transforms(transform[None], np.arange(x0, x1, dtype=np.float64)[None, :],
                  np.arange(y0, y1, dtype=np.float64)[:, None])
    return (x0, x1, y0, y1), (u, v)


def _overlapping(windows: list) -> list[list[int]]:
    """The indices of the non-empty windows, grouped where their rectangles overlap (each group in order)."""
    groups = [([i], list(w[0])) for i, w in enumerate(windows) if w is not None]
    merged = True
    while merged:
        merged = False
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                (ia, (ax0, ax1, ay0, ay1)), (ib, (bx0, bx1, by0, by1)) = groups[a], groups[b]
                if ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1:
                    groups[a] = (sorted(ia + ib), [min(ax0, bx0), max(ax1, bx1), min(ay0, by0), max(ay1, by1)])
                    del groups[b]
                    merged = True
                    break
            if merged:
                break
    return [members for members, _ in groups]


def write_pixels(result, out: torch.Tensor, touched: torch.Tensor, x0: int, y0: int) -> None:
    """Write the ``touched`` pixels of ``out`` (3, h, w) in [0, 1] into the photo ``result`` at ``(x0, y0)``,
    in place (an array is rounded to uint8 once; a tensor keeps its dtype): the paste-back's and the
    head covering's last step."""
    h, w = touched.shape
    if isinstance(result, np.ndarray):
        where = touched.cpu().numpy()
        values = (out[:, touched] * 255).round().clamp(0, 255).to(torch.uint8)
        result[y0:y0 + h, x0:x0 + w][where] = values.T.cpu().numpy()
    else:
        where = touched.to(result.device)
        result[:, y0:y0 + h, x0:x0 + w][:, where] = out[:, touched].to(result.device, result.dtype)
