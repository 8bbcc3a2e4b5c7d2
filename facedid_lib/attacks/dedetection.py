"""De-detection: a small perturbation of the face regions that hides every face from a detector.

The attack is L-inf PGD (I-FGSM from the photo, :class:`HideFaces`) on a differentiable detector
(:attr:`facedid_lib.detect.Detector.differentiable`: the ported MMOD CNN of
:mod:`facedid_lib.detect.mmod`, or YuNet in PyTorch, :mod:`facedid_lib.detect.yunet_net`), in the
spirit of the PGD attacks on Faster R-CNN face detectors (Dasari's de-detection slides): with
``s(x)`` the detector's score map (a face where a cell reaches the threshold ``t``: MMOD 0, YuNet
0.6) and ``m`` a mask of the face regions,

``L(x) = sum_cells max(0, s(x) - (t - margin))``
``x_{i+1} = clip_[0,1](clip_[x-ε, x+ε](x_i - α m ⊙ sign(∇L(x_i))))``

so every cell is pushed below ``t - margin`` while only the pixels of the faces change, by at most
ε. The default margin takes the scores down to the detector's lower-threshold setting
(:attr:`~facedid_lib.detect.Detector.sensitive`: MMOD -0.5, YuNet 0.3), where ``--sensitive``
looks. The detectors the attack never sees (the other CNN, dlib's HOG, OpenCV's Haar cascade)
measure whether hiding from one detector transfers to others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
import torch.nn as nn
from tqdm.auto import tqdm

from facedid_lib import metrics
from facedid_lib.core.config import resolve_device
from facedid_lib.detect import Detector, detect, detector_names, get_detector, match_faces, mmod
from facedid_lib.io.images import check_photo, to_tensor
from facedid_lib.attacks.adversarial import IFGSM

if TYPE_CHECKING:
    import pandas as pd

#: The detector the attack sees by default (:class:`ScoreMap`).
ATTACKED = "mmod"


def face_regions(photo: np.ndarray, detections, expand: float = 0.25) -> np.ndarray:
    """``(H, W)`` bool mask: the union of the detection boxes, each grown by ``expand`` per side."""
    if not expand >= 0:
        raise ValueError(f"expand must be non-negative, got {expand}")
    height, width = photo.shape[:2]
    mask = np.zeros((height, width), dtype=bool)
    for d in detections:
        grow_x, grow_y = expand * (d.x1 - d.x0), expand * (d.y1 - d.y0)
        x0, y0 = max(0, int(d.x0 - grow_x)), max(0, int(d.y0 - grow_y))
        x1, y1 = min(width, int(np.ceil(d.x1 + grow_x))), min(height, int(np.ceil(d.y1 + grow_y)))
        mask[y0:y1, x0:x1] = True
    return mask


def differentiable_detector(detector: str) -> Detector:
    """The registered detector ``detector``, checked to have a differentiable score map."""
    entry = get_detector(detector)
    if not entry.differentiable:
        attackable = [name for name in detector_names() if get_detector(name).differentiable]
        raise ValueError(f"detector {detector!r} has no differentiable form to attack; these have: {attackable}")
    return entry


def threshold_and_margin(detector: str, margin: float | None = None) -> tuple[float, float]:
    """The detector's default threshold on its score map and the attack's margin below it (None:
    down to its :attr:`~facedid_lib.detect.Detector.sensitive` threshold)."""
    entry = differentiable_detector(detector)
    param = entry.score_param
    threshold = float(next(p.default for p in entry.params if p.name == param))
    if margin is None:
        margin = threshold - float(entry.sensitive[param])
    if not margin >= 0:
        raise ValueError(f"margin must be non-negative, got {margin}")
    return threshold, float(margin)


class ScoreMap(nn.Module):
    """A differentiable detector as a model an attack can use: ``(N, 3, H, W)`` in [0, 1] -> its
    score map (MMOD: ``(N, H', W')``, YuNet: ``(N, cells)``)."""

    def __init__(self, detector: str = ATTACKED):
        super().__init__()
        self.detector = detector
        self._entry = differentiable_detector(detector)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self._entry.score_map(images)


class HideFaces(IFGSM):
    """De-detection as an attack on :class:`ScoreMap`: I-FGSM in the face regions with the detector's loss.

    ``loss = sum_cells max(0, s(x) - (t - margin))``, zero once every cell is below ``t - margin``
    (``t``: the detector's default threshold), which is also the success test; the ``mask`` (the
    face regions) and the ε box are the base's. With ``early_stop`` the attack ends at the first
    iterate where no cell scores above ``t - margin``. ``max_scores`` records the highest score of
    the map before each step.
    """

    #: not in ATTACKS: it attacks a detector's score map, not a recognizer (:func:`hide_faces` runs it)
    name, key = "hide faces", "hide-faces"

    def __init__(self, *, eps: float = 4 / 255, alpha: float | None = None, steps: int = 20,
                 margin: float | None = None, mask: torch.Tensor | None = None, detector: str = ATTACKED):
        super().__init__(ScoreMap(detector), eps=eps, alpha=eps / 4 if alpha is None else alpha, steps=steps,
                         early_stop=True, mask=mask)
        self.threshold, self.margin = threshold_and_margin(detector, margin)
        self.max_scores: list[float] = []

    def _excess(self, logits):
        return (logits - (self.threshold - self.margin)).clamp_min(0).flatten(1).sum(1)

    def loss(self, logits, images, goal):
        self.max_scores.append(float(logits.detach().max()))
        return self._excess(logits)

    def success(self, logits, goal):
        return self._excess(logits) == 0


def hide_faces(photo: np.ndarray, eps: float = 4 / 255, alpha: float | None = None, steps: int = 20,
               margin: float | None = None, expand: float = 0.25, mask: np.ndarray | None = None,
               device=None, detector: str = ATTACKED) -> tuple[np.ndarray, list[float]]:
    """Perturb the face regions of a photo until ``detector`` finds no face there (:class:`HideFaces`).

    Parameters
    ----------
    photo : (H, W, 3) uint8 RGB array.
    eps : largest change of a pixel value, in [0, 1] units (``4 / 255``: four grey levels).
    alpha : step size (same units; default ``eps / 4``); ``steps``: iterations at most (it stops
        once every score is below ``-margin``).
    margin : how far below the detector's threshold every score is pushed (None: down to its
        sensitive threshold; MMOD: 0.5 below 0).
    expand : how much each box of the clean photo is grown into the region that may change.
    mask : (H, W) bool, the pixels that may change; default :func:`face_regions` of the
        ``detector``'s detections of the clean photo.
    device : where to run (None: the library default).
    detector : the differentiable detector attacked (``"mmod"``, ``"yunet"``).

    Returns
    -------
    (photo', max_scores): the de-detected photo as (H, W, 3) uint8 (rounded to 8 bits as it would
    be saved; it differs from ``photo`` by at most ``eps`` in every pixel), and the highest score
    of the map before each step (the attack's record).
    """
    check_photo(photo)
    if not isinstance(photo, np.ndarray) or photo.dtype != np.uint8:
        raise TypeError("photo must be an (H, W, 3) uint8 RGB array")
    if not eps > 0 or (alpha is not None and not alpha > 0):
        raise ValueError(f"eps and alpha must be positive, got eps={eps}, alpha={alpha}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    device = resolve_device(device)
    differentiable_detector(detector)
    if mask is None:
        mask = face_regions(photo, _clean_faces(photo, detector, device), expand)
    if mask.shape != photo.shape[:2]:
        raise ValueError(f"mask must have shape {photo.shape[:2]}, got {mask.shape}")
    x = to_tensor(photo, device)[None]
    attack = HideFaces(eps=eps, alpha=alpha, steps=steps, margin=margin, detector=detector,
                       mask=torch.from_numpy(mask).to(device)[None, None])
    hidden = attack(x, torch.zeros(1, dtype=torch.long))
    out = (hidden[0] * 255).round().byte().permute(1, 2, 0).cpu().numpy()
    return out, attack.max_scores


def _clean_faces(photo: np.ndarray, detector: str, device) -> list:
    """The faces ``detector`` finds in a clean photo, whose grown boxes the attack may change."""
    return mmod.detect_mmod(photo, device=device) if detector == "mmod" else detect(photo, detector)


def _centres(photos: list[np.ndarray], detector: str, **params) -> list[list[tuple[float, float]]]:
    """The centres of ``detector``'s boxes, photo by photo."""
    return [[((d.x0 + d.x1) / 2, (d.y0 + d.y1) / 2) for d in detect(p, detector, **params)] for p in photos]


def _found_again(centres: list, new: list[np.ndarray], detector: str, **params) -> float:
    found = sum(match_faces(detect(after, detector, **params), c)[0] for c, after in zip(centres, new))
    total = sum(len(c) for c in centres)
    return found / total if total else float("nan")


def detection_rate(clean: list[np.ndarray], new: list[np.ndarray], detector: str, **params) -> float:
    """Fraction of the faces ``detector`` finds in the clean photos that it still finds in ``new``.

    A face counts as found again when a detection in the new photo contains the centre of its
    clean box (:func:`facedid_lib.detect.match_faces`).
    """
    if len(clean) != len(new) or not clean:
        raise ValueError("give the same, non-zero number of clean and new photos")
    return _found_again(_centres(clean, detector, **params), new, detector, **params)


def measured_detectors(attacked: str = ATTACKED) -> tuple[str, ...]:
    """The detectors de-detection is measured against: every registered face detector
    (:data:`facedid_lib.detect.DETECTORS`), the attacked one (default :data:`ATTACKED`) first, the
    others in the registry's order; a newly registered face detector joins by itself."""
    return (attacked, *[name for name in detector_names() if name != attacked and get_detector(name).kind == "face"])


def dedetection_sweep(photos: dict, eps_values, detectors: Sequence[str] | None = None, progress: bool = True,
                      attacked: str = ATTACKED, **attack) -> "pd.DataFrame":
    """Detection rate of each detector against ε: a table with one row per ε.

    ``detectors`` are registered detector names (default: :func:`measured_detectors` of ``attacked``).

    ``photos`` maps names to (H, W, 3) uint8 photos; ``attack`` goes to :func:`hide_faces` against
    the differentiable detector ``attacked`` (the regions are its boxes on each clean photo, found
    once). Columns ``L2`` and ``SSIM``: the mean L2 norm of the change per photo (in [0, 1] units)
    and the mean SSIM of the photos.
    """
    import pandas as pd

    clean = list(photos.values())
    differentiable_detector(attacked)
    detectors = measured_detectors(attacked) if detectors is None else tuple(detectors)
    for name in detectors:
        get_detector(name)  # an unknown name fails before the attack runs
    device = resolve_device(attack.pop("device", None))
    expand = attack.pop("expand", 0.25)
    masks = [face_regions(p, _clean_faces(p, attacked, device), expand) for p in clean]
    centres = {d: _centres(clean, d) for d in detectors}  # the clean photos' faces, found once
    rows = []
    for eps in tqdm(list(eps_values), desc="de-detection", disable=not progress):
        new = [hide_faces(p, eps=eps, mask=m, device=device, detector=attacked, **attack)[0] if eps > 0 else p
               for p, m in zip(clean, masks)]
        pairs = [(to_tensor(a, "cpu")[None], to_tensor(b, "cpu")[None]) for a, b in zip(new, clean)]
        row = {"eps": eps, "eps x 255": round(eps * 255, 2),
               "L2": float(np.mean([float(metrics.l2_norm(a, b)) for a, b in pairs])),
               "SSIM": float(np.mean([float(metrics.ssim(a, b)) for a, b in pairs]))}
        row.update({f"detected {d}": _found_again(centres[d], new, d) for d in detectors})
        rows.append(row)
    return pd.DataFrame(rows).set_index("eps")


__all__ = ["ScoreMap", "HideFaces", "ATTACKED", "differentiable_detector", "threshold_and_margin", "face_regions",
           "hide_faces", "detection_rate", "measured_detectors", "dedetection_sweep"]
