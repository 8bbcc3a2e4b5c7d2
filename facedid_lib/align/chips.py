"""Face chips: the similarity transform of dlib's face chips, warping, and aligning every face.

A *chip* is a square, aligned crop of one face, with the geometry of
``dlib.get_face_chip(photo, shape, size, padding)``: the library's image batches of faces are
``(N, 3, size, size)`` float tensors in [0, 1]. The steps, one function each::

    detect  ->  landmarks  ->  chip_transform  ->  extract_chips

:func:`align_faces` runs them on every face of a photo (with dlib's landmarks, or the detector's
own where it gives them: ``landmarks="detector"``), :func:`align_largest` on its largest face as
the offline data's chips were made.

Coordinates: pixel ``(x, y)`` is column ``x``, row ``y``, integer coordinates are pixel centres
(dlib's and OpenCV's convention). A chip transform ``A`` (2 x 3) maps a photo point
``(x, y, 1)`` to chip coordinates ``(u, v)``.

Example
-------
>>> found = align_faces(photo, "hog", device="cpu")
>>> len(found), tuple(found.chips.shape), found.landmarks.shape
(3, (3, 3, 192, 192), (3, 5, 2))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from facedid_lib.align.landmarks import dlib_landmarks
from facedid_lib.align.templates import TEMPLATES, similarity
from facedid_lib.align.warp import apply_transforms, check_transforms, crop, inside_photo, invert, sample
from facedid_lib.core.config import resolve_device
from facedid_lib.core.resample import pyramid_down
from facedid_lib.detect.base import Detections
from facedid_lib.detect.registry import run_detector
from facedid_lib.io.images import check_photo, photo_size, to_uint8

__all__ = ["LANDMARK_SOURCES", "WHOLE_PHOTO_PIXELS", "chip_transform", "extract_chips", "AlignedFaces", "locate_faces",
           "align_faces", "align_largest"]

#: Where :func:`align_faces` takes the landmarks from: dlib's shape predictor, the detector, or
#: the detector where it gives them and dlib elsewhere.
LANDMARK_SOURCES = ("dlib", "detector", "auto")


def chip_transform(landmarks5, size: int = 192, padding: float = 0.4, scheme: str = "dlib-5") -> np.ndarray:
    """The similarity transform from photo to chip coordinates that dlib's face chips use.

    dlib fits its 5-point template, placed at ``(padding + t) / (1 + 2 padding) * size``, to the
    landmarks (least squares), keeps the angle and the scale ``s``, and samples the chip so that
    chip pixels ``0`` and ``size - 1`` land on the corners of a ``size * s`` wide rectangle
    (``drectangle`` corners are ``width - 1`` apart): the chip's scale is therefore
    ``(size - 1) / (size * s - 1)``, not exactly ``1 / s``. This function reproduces that to
    floating-point precision, so warping the photo with it gives ``dlib.get_face_chip``.

    Landmarks of another scheme (YuNet's ``"arcface-5"``) are fitted to that scheme's template on
    the same unit face box (:data:`~facedid_lib.align.templates.TEMPLATES`), the rest unchanged.

    Parameters
    ----------
    landmarks5 : (5, 2) array, from :func:`~facedid_lib.align.landmarks.landmarks` (or a detector's,
        in ``scheme``).
    size : chip side in pixels (at least 2).
    padding : border around the template's face box, as a fraction of it (dlib: 0.25 for its
        face recognition chips; the offline data: 0.4).
    scheme : the landmarks' order and meaning, a key of :data:`~facedid_lib.align.templates.TEMPLATES`.

    Returns
    -------
    (2, 3) float64 array ``A``: ``(u, v) = A @ (x, y, 1)``.
    """
    if scheme not in TEMPLATES:
        raise ValueError(f"scheme must be one of {sorted(TEMPLATES)}, got {scheme!r}")
    points = np.asarray(landmarks5, dtype=np.float64)
    if points.shape != TEMPLATES[scheme].shape or not np.isfinite(points).all():
        raise ValueError(f"landmarks5 must be a finite {TEMPLATES[scheme].shape} array, got shape {points.shape}")
    if not isinstance(size, (int, np.integer)) or size < 2:
        raise ValueError(f"size must be an int >= 2, got {size!r}")
    if not padding >= 0:
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    template = (padding + TEMPLATES[scheme]) / (1 + 2 * padding) * size
    scale, rotation, shift = similarity(template, points)
    if not size * scale > 1:
        raise ValueError("landmarks5 are degenerate: the face would be under one pixel wide")
    angle = math.atan2(rotation[1, 0], rotation[0, 0])
    centre = scale * rotation @ np.array([size / 2, size / 2]) + shift  # dlib's rect centre
    cos, sin = math.cos(angle), math.sin(angle)
    inverse_rotation = np.array([[cos, sin], [-sin, cos]])
    stretch = (size - 1) / (size * scale - 1)  # chip pixels per photo pixel
    linear = stretch * inverse_rotation
    return np.hstack([linear, ((size - 1) / 2 - linear @ centre)[:, None]])


#: Photos up to this many pixels are resampled whole; larger ones window by window (memory).
WHOLE_PHOTO_PIXELS = 4_000_000


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
    check_photo(photo)
    transforms = check_transforms(transforms)
    if not isinstance(size, (int, np.integer)) or size < 2:
        raise ValueError(f"size must be an int >= 2, got {size!r}")
    device = resolve_device(device, photo if isinstance(photo, torch.Tensor) else None)
    dtype = photo.dtype if isinstance(photo, torch.Tensor) and photo.dtype == torch.float64 else torch.float32
    height, width = photo_size(photo)
    chips = torch.zeros(len(transforms), 3, size, size, device=device, dtype=dtype)
    if not len(transforms):
        return chips
    grid = np.arange(size, dtype=np.float64)
    x, y = apply_transforms(invert(transforms), grid[None, :], grid[:, None])
    inside = torch.from_numpy(inside_photo(x, y, height, width)).to(device)
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
        level = crop(photo, x0, x1, y0, y1, device).to(dtype)
        for _ in range(n):
            level = pyramid_down(level[None])[0]
        chips[i] = sample(level, (x[i:i + 1] - x0) / step, (y[i:i + 1] - y0) / step)[0]
    return chips * inside[:, None]


@dataclass
class AlignedFaces:
    """Every face of a photo, aligned: ``chips[i]`` is ``detections[i]``'s face warped by
    ``transforms[i]`` (photo to chip), fitted to ``landmarks[i]`` (of the landmark ``scheme``;
    ``"mixed"`` when some faces have the detector's and others dlib's). ``chips`` is None where the
    faces were only located (:func:`locate_faces`)."""

    chips: torch.Tensor | None  #: (N, 3, size, size) float in [0, 1]
    transforms: np.ndarray  #: (N, 2, 3) float64, photo to chip coordinates
    detections: Detections  #: N Detection
    landmarks: np.ndarray  #: (N, K, 2) float64, photo coordinates (K = 5 for both schemes)
    scheme: str = "dlib-5"  #: the landmarks' order and meaning (:mod:`facedid_lib.align.templates`)

    def __len__(self) -> int:
        return len(self.detections)


def locate_faces(photo, detector: str = "hog", size: int = 192, padding: float = 0.4, *, landmarks: str = "dlib",
                 sensitive: bool = False, **detector_params) -> AlignedFaces:
    """Detect every face of a photo and fit each one's chip transform, without making the chips.

    The same as :func:`align_faces` but for the chips (``chips`` is None): what a method that works
    in the photo itself needs (the head of :mod:`facedid_lib.align.head`).
    """
    if landmarks not in LANDMARK_SOURCES:
        raise ValueError(f"landmarks must be one of {LANDMARK_SOURCES}, got {landmarks!r}")
    check_photo(photo)
    image = to_uint8(photo)
    detections = run_detector(image, detector, detector_params, sensitive)
    own = detections.landmarks
    if landmarks != "dlib" and own is not None and detections.scheme not in TEMPLATES:
        raise ValueError(f"detector {detector!r} gives landmarks of scheme {detections.scheme!r}, for which there "
                         f"is no template (known: {sorted(TEMPLATES)})")
    if landmarks == "detector" and (own is None or np.isnan(own).any()):
        raise ValueError(f"detector {detector!r} gives no landmarks (for some faces): use landmarks='dlib' or 'auto'")
    marks = np.zeros((len(detections), 5, 2))
    schemes = []
    for i, detection in enumerate(detections):
        if landmarks != "dlib" and own is not None and not np.isnan(own[i]).any():
            marks[i], scheme = own[i], detections.scheme
        else:
            marks[i], scheme = dlib_landmarks(image, detection), "dlib-5"
        schemes.append(scheme)
    transforms = np.array([chip_transform(m, size, padding, k) for m, k in zip(marks, schemes)]).reshape(-1, 2, 3)
    scheme = schemes[0] if len(set(schemes)) == 1 else ("mixed" if schemes else
                                                         ("dlib-5" if landmarks == "dlib" or own is None
                                                          else detections.scheme))
    return AlignedFaces(None, transforms, detections, marks, scheme)


def align_faces(photo, detector: str = "hog", size: int = 192, padding: float = 0.4, device=None, *,
                landmarks: str = "dlib", sensitive: bool = False, **detector_params) -> AlignedFaces:
    """Detect every face of a photo and align each to a chip, like ``dlib.get_face_chip``.

    Parameters
    ----------
    photo : (H, W, 3) uint8 RGB array or (3, H, W) float tensor in [0, 1].
    detector : a name from :func:`facedid_lib.detect.detector_names`, or a union such as ``"yunet+mmod"``.
    size, padding : the chip, see :func:`chip_transform`.
    device : where the chips are made (None: the photo tensor's device, or the library default).
    landmarks : which landmarks the chips are fitted to: ``"dlib"`` (dlib's 5-point shape
        predictor in each detected box, as the course's chips were made), ``"detector"`` (the
        detector's own, e.g. YuNet's five points, fitted to their scheme's template; a detector
        that gives none is refused) or ``"auto"`` (the detector's own where it gives them, dlib's
        elsewhere: a union's faces that only MMOD found; ``scheme`` is then ``"mixed"``).
    sensitive : the detector at its lower thresholds (:func:`facedid_lib.detect.detect`).
    **detector_params : see ``DETECTOR_PARAMS[detector]``.

    Returns
    -------
    :class:`AlignedFaces`, best detection first; N = 0 when there is no face.

    Example
    -------
    >>> found = align_faces(photo, "yunet", landmarks="detector", device="cpu")
    >>> len(found), found.scheme, tuple(found.chips.shape)
    (3, 'arcface-5', (3, 3, 192, 192))
    """
    found = locate_faces(photo, detector, size, padding, landmarks=landmarks, sensitive=sensitive, **detector_params)
    found.chips = extract_chips(photo, found.transforms, size, device)
    return found


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
    check_photo(photo)
    image = to_uint8(photo)
    if max_side is not None and max(image.shape[:2]) > max_side:
        factor = max_side / max(image.shape[:2])
        shape = (max(2, round(image.shape[1] * factor)), max(2, round(image.shape[0] * factor)))
        image = cv2.resize(image, shape, interpolation=cv2.INTER_AREA)
    found = run_detector(image, detector, {})
    if not found:
        return None
    largest = max(found, key=lambda d: d.area)
    transform = chip_transform(dlib_landmarks(image, largest), size, padding)
    chip = extract_chips(image, transform[None], size, device="cpu")[0]
    # dlib truncates; the small offset absorbs float32 rounding just below an integer
    return np.floor(chip.permute(1, 2, 0).numpy() * 255 + 1e-3).astype(np.uint8)
