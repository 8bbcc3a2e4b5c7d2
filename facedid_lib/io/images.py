"""Photos as files and arrays: read and write images atomically, check photos, convert them.

A *photo* is either an ``(H, W, 3)`` uint8 RGB numpy array (as :func:`read_image` returns it) or a
``(3, H, W)`` float tensor in [0, 1]; every function of the library that takes a photo returns the
type it was given. :func:`to_uint8` and :func:`to_tensor` convert between the two,
:func:`chips_to_uint8` turns a batch of float chips into uint8 arrays for compiled code (dlib,
OpenCV) and writers.

Files are written atomically: to a temporary sibling (:func:`temporary_sibling`, recognised by
:func:`is_temporary`) that is renamed onto the target, so no partly written file ever exists under
the target's name.

Example
-------
>>> import tempfile
>>> from pathlib import Path
>>> from facedid_lib.io import images
>>> photo = images.read_image(data_folder / "wild" / "027779.jpg")      # the offline data
>>> photo.shape, photo.dtype
((640, 425, 3), dtype('uint8'))
>>> with tempfile.TemporaryDirectory() as folder:
...     written = images.write_image(Path(folder) / "copy.png", photo)
...     written.name, bool((images.read_image(written) == photo).all())    # PNG: lossless
('copy.png', True)
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageOps

__all__ = ["check_photo", "photo_size", "to_uint8", "to_tensor", "copy_photo", "chips_to_uint8", "read_image",
           "write_image", "write_bytes", "is_temporary", "temporary_sibling", "write_atomically", "JPEG_QUALITY",
           "jpeg_round_trip"]

# ------------------------------------------------------------------------------------------------
# photos: checks and conversions


def check_photo(photo, name: str = "photo", smallest: int = 2):
    """Raise a clear TypeError/ValueError unless ``photo`` is a uint8 RGB array or a float tensor of at
    least ``smallest`` x ``smallest`` pixels."""
    if isinstance(photo, np.ndarray):
        if photo.dtype != np.uint8:
            raise TypeError(f"{name} must be a uint8 numpy array (H, W, 3) RGB, got dtype {photo.dtype} "
                            "(a float photo must be a (3, H, W) torch tensor in [0, 1])")
        if photo.ndim == 2:
            raise ValueError(f"{name} is grayscale with shape {photo.shape}; an RGB photo (H, W, 3) is "
                             "needed (np.stack([gray] * 3, axis=-1))")
        if photo.ndim != 3 or photo.shape[2] != 3:
            raise ValueError(f"{name} must have shape (H, W, 3) RGB, got {photo.shape}")
        height, width = photo.shape[:2]
    elif isinstance(photo, torch.Tensor):
        if not photo.is_floating_point():
            raise TypeError(f"{name} must be a float tensor (3, H, W) in [0, 1], got dtype {photo.dtype} "
                            "(a uint8 photo must be an (H, W, 3) numpy array)")
        if photo.ndim != 3 or photo.shape[0] != 3:
            raise ValueError(f"{name} must be a tensor of shape (3, H, W) RGB, got {tuple(photo.shape)}")
        height, width = photo.shape[1:]
        if height * width and not (photo.min() >= 0 and photo.max() <= 1):  # also catches NaN
            raise ValueError(f"{name} must lie in [0, 1], got values in "
                             f"[{float(photo.min()):.3g}, {float(photo.max()):.3g}]")
    else:
        raise TypeError(f"{name} must be an (H, W, 3) uint8 numpy array or a (3, H, W) float tensor, "
                        f"got {type(photo).__name__}")
    if height < smallest or width < smallest:
        raise ValueError(f"{name} is empty or smaller than {smallest} x {smallest} pixels: {height} x {width}")


def to_uint8(photo) -> np.ndarray:
    """The photo as an (H, W, 3) uint8 RGB array (detectors and writers need one)."""
    if isinstance(photo, np.ndarray):
        return np.ascontiguousarray(photo)
    return (photo.detach() * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().cpu().numpy()


def chips_to_uint8(chips: torch.Tensor) -> np.ndarray:
    """A batch of ``(N, 3, H, W)`` float chips in [0, 1] as ``(N, H, W, 3)`` uint8 RGB arrays (rounded),
    as a saved photo and the compiled detectors and recognizers (dlib, OpenCV) want them."""
    return (chips.detach().cpu().float() * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def to_tensor(photo, device) -> torch.Tensor:
    """The photo as a (3, H, W) float tensor in [0, 1] on ``device`` (float64 stays float64)."""
    if isinstance(photo, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(photo)).to(device).permute(2, 0, 1).float() / 255
    dtype = photo.dtype if photo.dtype in (torch.float32, torch.float64) else torch.float32
    return photo.detach().to(device, dtype)


def copy_photo(photo):
    """A copy of a photo of either type (a tensor stays on its device)."""
    return photo.copy() if isinstance(photo, np.ndarray) else photo.clone()

def photo_size(photo) -> tuple[int, int]:
    """``(height, width)`` of a photo of either type."""
    return tuple(photo.shape[:2]) if isinstance(photo, np.ndarray) else tuple(photo.shape[1:])


# ------------------------------------------------------------------------------------------------
# files


def read_image(path) -> np.ndarray:
    """Read an image file as an ``(H, W, 3)`` uint8 RGB array.

    Grayscale, palette, RGBA (alpha dropped) and CMYK files are converted to RGB. High bit depths
    are scaled, not clipped: 16-bit grayscale (Pillow modes ``I;16``, and ``I`` with values in
    0..65535) from 0..65535, floating-point grayscale (mode ``F``) from [0, 1], and other 32-bit
    grayscale from its own minimum..maximum (16-bit colour Pillow scales itself). An EXIF
    orientation tag is applied, so the photo is upright. Of an animation or a multi-page file, the
    first frame is read.

    An image of more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels (Pillow's guard against
    decompression bombs, 89,478,485 by default: a 48- or 64-megapixel camera photo reads) is
    refused before it is decoded; raise that limit to read larger images.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    (H, W, 3) uint8 numpy array.

    Raises
    ------
    FileNotFoundError for a missing file (or one that is not a regular file), ValueError for a file
    that is not a readable image or has more pixels than the limit.
    """
    import warnings

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no image file at {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # over the limit: refused
            with open(path, "rb") as file, Image.open(file) as image:
                ImageOps.exif_transpose(image, in_place=True)  # no copy of an upright photo
                return _to_rgb(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ValueError(f"path: cannot read {path}: it has more pixels than PIL.Image.MAX_IMAGE_PIXELS = "
                         f"{Image.MAX_IMAGE_PIXELS:,}, Pillow's guard against decompression bombs ({err})") from None
    except Exception as err:  # a decoder fails on a malformed file in many ways: OSError, SyntaxError, ...
        raise ValueError(f"path: cannot read {path} as an image ({type(err).__name__}: {err})") from err


def _to_rgb(image: Image.Image) -> np.ndarray:
    """An opened image as an (H, W, 3) uint8 RGB array; high-bit-depth grayscale is scaled (see read_image)."""
    if image.mode not in ("I", "F") and not image.mode.startswith("I;16"):
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        # copied in strips: a 48-megapixel photo never exists twice in full beside Pillow's own copy
        out = np.empty((rgb.height, rgb.width, 3), np.uint8)
        for top in range(0, rgb.height, 256):
            out[top:top + 256] = np.asarray(rgb.crop((0, top, rgb.width, min(rgb.height, top + 256))))
        return out
    values = np.array(image, dtype=np.float64)
    values[~np.isfinite(values)] = 0
    low, high = (0.0, 1.0) if image.mode == "F" else (0.0, 65535.0)
    if values.size and (values.min() < low or values.max() > high):
        low, high = values.min(), values.max()
    gray = np.round((values - low) * 255 / max(high - low, 1e-12)).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def temporary_sibling(path: Path) -> Path:
    """A fresh hidden name in ``path``'s folder with the same suffix (writers pick formats by it);
    :func:`is_temporary` recognises it."""
    return path.with_name(f".{path.stem[:40]}.{secrets.token_hex(4)}.tmp{path.suffix}")


def is_temporary(path) -> bool:
    """True when ``path`` has the name of a temporary file of :func:`write_image`, :func:`write_bytes` or
    :func:`facedid_lib.pipeline.deidentify_video` (``.NAME.<8 hex digits>.tmp.SUFFIX``): one that a
    killed run left behind, or one being written now."""
    import re

    return re.fullmatch(r"\..*\.[0-9a-f]{8}\.tmp(\.[^.]*)?", Path(path).name, re.DOTALL) is not None


def write_atomically(path: Path, write: Callable) -> Path:
    """Call ``write(file)`` on a fresh temporary sibling of ``path``, then rename it onto ``path``.

    The temporary file is removed whatever happens, also when an exception (a signal handler's,
    say) interrupts the writing.
    """
    if not path.parent.is_dir():
        raise FileNotFoundError(f"path: folder {path.parent} does not exist")
    tmp = temporary_sibling(path)
    try:
        with open(tmp, "xb") as file:
            write(file)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_image(path, image) -> Path:
    """Write a photo to ``path`` atomically; the format follows the suffix (JPEG at quality 95).

    The image goes to a temporary file in the same folder first and is renamed onto ``path``
    (``os.replace``), so no partly written file ever exists under ``path``. Nothing but the pixels
    is written: no EXIF, XMP, ICC profile or text.

    Parameters
    ----------
    path : str or Path, with a suffix Pillow knows (``.png``, ``.jpg``, ...); its folder must exist.
    image : (H, W, 3) uint8 RGB array or (3, H, W) float tensor in [0, 1], of 1 x 1 pixels or more.

    Returns
    -------
    Path written.
    """
    check_photo(image, "image", smallest=1)
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"path: unknown image format {path.suffix!r} for {path} (use .png or .jpg)")
    options = {"quality": JPEG_QUALITY} if fmt == "JPEG" else {}
    return write_atomically(path, lambda file: Image.fromarray(to_uint8(image)).save(file, format=fmt, **options))


#: The quality of the JPEG files :func:`write_image` writes.
JPEG_QUALITY = 95


def jpeg_round_trip(image, quality: int = JPEG_QUALITY) -> np.ndarray:
    """The (H, W, 3) uint8 RGB pixels a JPEG file of ``image`` at ``quality`` gives back (Pillow's
    encoder, as :func:`write_image` writes ``.jpg``): what a reader of the written file sees.

    >>> photo = np.full((16, 16, 3), 128, np.uint8)
    >>> bool((jpeg_round_trip(photo) == photo).all())
    True
    """
    import io

    if not 1 <= int(quality) <= 100:
        raise ValueError(f"quality must lie in [1, 100], got {quality}")
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buffer, format="JPEG", quality=int(quality))
    with Image.open(io.BytesIO(buffer.getvalue())) as back:
        return np.asarray(back.convert("RGB")).copy()


def write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, as :func:`write_image` writes a photo.

    The ``facedid`` command copies a photo without a face byte for byte with it.

    Parameters
    ----------
    path : str or Path; its folder must exist.
    data : bytes

    Returns
    -------
    Path written.
    """
    return write_atomically(Path(path), lambda file: file.write(data))

