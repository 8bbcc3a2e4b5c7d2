"""Whole heads covered in the photo itself: the ``cover="head"`` path of the pipeline.

Every face's head ellipse (:func:`facedid_lib.align.head_ellipses`, from the landmarks) is cut
out of the photo with a margin of context, the method's *head form* runs on it at the face's own
scale (its lengths given as fractions of the face's width, :meth:`Method.to_pixels`), and the
result is blended back through the ellipse, feathered. No chip, no resampling of the face: a
classical method costs a few filters on a window of the photo. Pixels outside every ellipse come
back bit for bit unchanged; faces are covered one after the other, so where two heads overlap the
later one covers the earlier's result. A method whose head form sees the whole scene
(``head_sees="photo"``: the adversarial methods, whose detectors and recognizers look at every
face at once) is called once, on a window around all the heads, and may change every pixel of
every head ellipse (no feather: the change must reach the file whole).

Example
-------
>>> from facedid_lib.io.images import read_image
>>> from facedid_lib.align import locate_faces
>>> from facedid_lib.methods import get
>>> photo = read_image(data_folder / "wild" / "027779.jpg")   # the offline data: three faces
>>> found = locate_faces(photo, "yunet", landmarks="detector")
>>> hidden = cover_heads(photo, found, get("fill"), {"colour": "black"})
>>> hidden.shape == photo.shape, int((hidden != photo).any(axis=2).sum()) > 10_000
(True, True)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from facedid_lib.align.chips import AlignedFaces
from facedid_lib.align.head import ellipse_mask, face_widths, head_ellipses, head_windows
from facedid_lib.align.paste import write_pixels
from facedid_lib.align.warp import crop
from facedid_lib.core import params as _params
from facedid_lib.core.checks import check_images
from facedid_lib.core.config import resolve_device
from facedid_lib.detect.base import Detections
from facedid_lib.detect.tiles import DETECT_TILE
from facedid_lib.io.images import check_photo, copy_photo, photo_size

__all__ = ["CONTEXT", "SCENE_CONTEXT", "head_params", "cover_heads", "cover_chip_heads"]

#: Context around each head ellipse that the method sees (a fraction of the face's width): a blur
#: near the ellipse's edge averages real neighbours, not a replicated border.
CONTEXT = 0.3


def head_params(method, given: dict) -> dict:
    """The command's parameters of ``method`` (:meth:`~facedid_lib.methods.Method.command_params`),
    checked, with their defaults filled in. A method without a head form is refused, naming those with one."""
    if getattr(method, "head", None) is None:
        from facedid_lib.methods.registry import REGISTRY

        names = [name for name in REGISTRY.names() if REGISTRY[name].head is not None]
        raise ValueError(f"{getattr(method, 'name', method)!r} has no head form (it works on aligned chips "
                         f"only: use region 'inner'); the methods that cover the whole head: {', '.join(names)}")
    return _params.resolve(method.command_params(), given, method.name)


def _union(a, b):
    """The smallest window holding windows ``a`` and ``b`` (either may be None)."""
    if a is None or b is None:
        return a if b is None else b
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


def cover_heads(photo, found: AlignedFaces, method, params: dict, size: int = 192, padding: float = 0.4,
                feather: float = 0.15, scale: float = 1.0, device=None, also: AlignedFaces | None = None,
                each: Sequence[dict] | None = None):
    """Cover the whole head of every face in ``found`` with ``method``'s head form.

    Parameters
    ----------
    photo : (H, W, 3) uint8 RGB array or (3, H, W) float tensor in [0, 1].
    found : the faces, located in ``photo`` (:func:`~facedid_lib.align.locate_faces` with the same
        ``size`` and ``padding``).
    method : a registered :class:`~facedid_lib.methods.Method` with a head form.
    params : the method's command parameters (:func:`head_params`; lengths as fractions of the face's width).
    feather : the ellipse's soft edge, a fraction of the face's width (0: a hard edge).
    scale : the head ellipse enlarged by this factor (:func:`~facedid_lib.align.head_ellipses`).
    device : where the method runs (None: the photo tensor's device, or the library default).
    also : a second placement of each face of ``found`` (the same number, in the same order; a
        video's smoothed track beside its raw one, :mod:`facedid_lib.track`): each face is covered
        over the union of its two ellipses, by one run of the method.
    each : per face of ``found``, parameters that replace those of ``params`` for that face (a
        video gives each track its own ``seed``, :func:`facedid_lib.pipeline.track_seed`).

    Returns
    -------
    A new photo of the input's type; the input untouched.
    """
    check_photo(photo)
    params = head_params(method, params)
    if not 0 <= feather <= 1:
        raise ValueError(f"feather must lie in [0, 1] (a fraction of the face's width), got {feather!r}")
    device = resolve_device(device, photo if isinstance(photo, torch.Tensor) else None)
    result = copy_photo(photo)
    if not len(found):
        return result
    if also is not None and len(also) != len(found):
        raise ValueError(f"also must place the same {len(found)} face(s), got {len(also)}")
    if each is not None and len(each) != len(found):
        raise ValueError(f"each must hold the parameters of the same {len(found)} face(s), got {len(each)}")
    height, width = photo_size(photo)
    placements = [found] if also is None else [found, also]
    ellipses = [head_ellipses(f.transforms, size, padding, scale) for f in placements]
    widths = np.max([face_widths(f.transforms, size, padding) for f in placements], axis=0)
    covered = [head_windows(e, height, width) for e in ellipses]
    if method.head_sees == "photo":
        return _cover_scene(result, found, method, params if each is None else [{**params, **e} for e in each],
                            ellipses, widths, covered, size, padding, device)
    windows = [head_windows(e, height, width, margin=CONTEXT * widths) for e in ellipses]
    for i, face_width in enumerate(widths):
        if all(c[i] is None for c in covered):
            continue  # the head lies outside the photo
        outer = windows[0][i]
        for more in windows[1:]:
            outer = _union(outer, more[i])
        x0, x1, y0, y1 = outer
        region = crop(result, x0, x1, y0, y1, device).to(torch.float32)
        mine = params if each is None else head_params(method, {**params, **each[i]})
        new = method.head(region[None], **method.to_pixels(mine, float(face_width)))
        check_images(new, f"{method.name}'s head form output")
        if new.shape[1:] != (3, y1 - y0, x1 - x0) or len(new) != 1:
            raise ValueError(f"{method.name}'s head form must keep the shape {tuple(region[None].shape)}, "
                             f"got {tuple(new.shape)}")
        mask = ellipse_mask(ellipses[0][i], outer, feather * float(face_width), device)
        for more in ellipses[1:]:
            mask = torch.maximum(mask, ellipse_mask(more[i], outer, feather * float(face_width), device))
        blended = region + mask * (new[0] - region)
        write_pixels(result, blended, mask > 0, x0, y0)
    return result


#: Context around the heads that a method seeing the whole scene is given in a photo larger than
#: the detectors' tile (:data:`~facedid_lib.detect.tiles.DETECT_TILE`; a smaller photo is given
#: whole, because a CNN detector's pyramid depends on the size of what it searches), a fraction of
#: the largest face's width.
SCENE_CONTEXT = 1.0
#: The scene's window starts on this grid, the JPEG block grid of the file to come.
SCENE_GRID = 8


def _shifted(transforms: np.ndarray, x0: int, y0: int) -> np.ndarray:
    """Photo-to-chip transforms of a window whose top-left pixel is the photo's ``(x0, y0)``."""
    out = np.array(transforms, dtype=np.float64, copy=True)
    out[:, :, 2] += out[:, :, :2] @ np.array([x0, y0], dtype=np.float64)
    return out


def _cover_scene(result, found: AlignedFaces, method, params, ellipses, widths, covered, size, padding, device):
    """A head form that sees every head at once (``head_sees="photo"``): one call on the window
    holding every head with :data:`SCENE_CONTEXT` around them, given the mask of the heads (hard:
    an adversarial change must reach the file whole) and the faces' transforms in the window."""
    if isinstance(params, list):
        raise ValueError(f"{method.name} sees every face at once: it takes one set of parameters, not one per face")
    height, width = photo_size(result)
    outer = None
    for placement in covered:
        for window in placement:
            outer = _union(outer, window)
    if outer is None:
        return result  # every head lies outside the photo
    if max(height, width) <= DETECT_TILE:  # the detectors search the whole photo: the attack sees what they see
        x0, x1, y0, y1 = 0, width, 0, height
    else:
        margin = int(np.ceil(SCENE_CONTEXT * float(np.max(widths))))
        x0 = max(0, outer[0] - margin) // SCENE_GRID * SCENE_GRID
        y0 = max(0, outer[2] - margin) // SCENE_GRID * SCENE_GRID
        x1, y1 = min(width, outer[1] + margin), min(height, outer[3] + margin)
    region = crop(result, x0, x1, y0, y1, device).to(torch.float32)
    mask = torch.zeros(y1 - y0, x1 - x0, device=region.device)
    for placement in ellipses:
        for ellipse in placement:
            mask = torch.maximum(mask, ellipse_mask(ellipse, (x0, x1, y0, y1), 0.0, region.device))
    inside = mask > 0
    new = method.head(region[None], mask=inside[None, None], transforms=_shifted(found.transforms, x0, y0),
                      size=size, padding=padding, **method.to_pixels(params, float(np.max(widths))))
    check_images(new, f"{method.name}'s head form output")
    if tuple(new.shape) != (1, 3, y1 - y0, x1 - x0):
        raise ValueError(f"{method.name}'s head form must keep the shape {(1, 3, y1 - y0, x1 - x0)}, "
                         f"got {tuple(new.shape)}")
    write_pixels(result, torch.where(inside, new[0].to(region), region), inside, x0, y0)
    return result


def cover_chip_heads(chips: torch.Tensor, method, params: dict, padding: float = 0.4, feather: float = 0.15,
                     scale: float = 1.0) -> torch.Tensor:
    """The head form of ``method`` on aligned chips, as if each chip were a photo of one face.

    A chip's own transform is the identity, so its head ellipse is :data:`HEAD_ELLIPSE` placed in
    the chip (it reaches past the chip's edges at padding 0.4: most of the chip is covered). What the
    command does to the head of a face in a photo, measured on the course's face sets by the
    chapters' recognizers.
    """
    check_images(chips, "chips")
    n, _, h, w = chips.shape
    if h != w:
        raise ValueError(f"chips must be square, got {h} x {w}")
    whole = AlignedFaces(None, np.array([[[1.0, 0, 0], [0, 1.0, 0]]]), Detections([[0, 0, w, h]], [1.0]),
                         np.full((1, 5, 2), np.nan))  # one face, the chip's own
    return torch.stack([cover_heads(chip, whole, method, params, h, padding, feather, scale, chip.device)
                        for chip in chips]) if n else chips.clone()
