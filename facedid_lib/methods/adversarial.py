"""Adversarial protection of real photos: chapter 5's attacks as methods of the command.

Chapters 5 and 6 attack recognizers that were trained on the faces they attack. A stranger's
photo names nobody, so these methods attack what a photo meets once it is published: the
differentiable detectors of the course (de-detection) and a face descriptor (dodging), through
the critics of :mod:`facedid_lib.attacks.ensemble`:

``hide-from-detectors``
    PGD (signed steps in an L-inf ε box) on every differentiable detector of the registry at once
    (MMOD and YuNet): ``sum_D sum_cells max(0, s_D(x') - (t_D - margin_D))`` is driven to zero, the
    scores of every cell below each detector's sensitive threshold (Dasari's de-detection slides;
    chapter 5's de-detection page).
``p-fgvm``
    P-FGVM steps ``x' <- clip(x' - α (∇L + λ (x' - x)))`` (Chatzikyriakidis et al., ICIP 2019) on
    the dodging loss ``L = sum_faces max(0, τ + margin - ||e(x') - e(x)||)`` of dlib's ResNet
    descriptor (``τ = 0.6``, dlib's same-person distance): the face is pushed until dlib's
    recognizer no longer matches it to its owner, whatever gallery it holds.

On aligned chips (the library, the harness) each method attacks the chips. For the command
(``--region head``, their default) the head form sees the whole scene at once
(:func:`facedid_lib.pipeline.cover_heads` with ``head_sees="photo"``): a window around every head
of the photo, only the pixels of the head ellipses may change, every face's chip is cut out of the
window differentiably (:func:`facedid_lib.align.extract_chips`) for the descriptor, and the
critics see the window as the JPEG file will give it back (:class:`~facedid_lib.attacks.ensemble.ThroughJpeg`
at the writer's quality 95), so a success survives the paste and the file.

Neither method protects against models it did not attack: chapter 5 measures the transfer to
HOG and Haar, and the README how often SFace, which neither attacks, still matches the face.
"""

from __future__ import annotations

import numpy as np
import torch

from facedid_lib.attacks.ensemble import AwayFrom, Critics, EnsembleIFGSM, EnsemblePFGVM, HiddenFrom, ThroughJpeg
from facedid_lib.core.params import Param
from facedid_lib.io.images import JPEG_QUALITY
from facedid_lib.detect import detector_names, get_detector
from facedid_lib.methods.registry import register

__all__ = ["attacked_detectors", "hide_from_detectors", "p_fgvm"]


def attacked_detectors() -> tuple[str, ...]:
    """Every registered detector with a differentiable score map (``"mmod"``, ``"yunet"``)."""
    return tuple(name for name in detector_names() if get_detector(name).differentiable)


def _labels(images: torch.Tensor) -> torch.Tensor:
    return torch.zeros(len(images), dtype=torch.long)


def _hide_critics() -> Critics:
    return Critics([HiddenFrom(name) for name in attacked_detectors()])


def _hide_scene(window: torch.Tensor, mask: torch.Tensor, transforms: np.ndarray, size: int, padding: float,
                eps: float, steps: int) -> torch.Tensor:
    critics = ThroughJpeg(_hide_critics(), JPEG_QUALITY)
    return EnsembleIFGSM(critics, eps=eps, steps=int(steps), mask=mask)(window, _labels(window))


@register("hide-from-detectors", "adversarial",
          Param("eps", 8 / 255, "ε, the largest change of a pixel value (8/255: eight grey levels)",
                low=1 / 255, high=32 / 255, step=1 / 255),
          Param("steps", 120, "iterations at most (each photo stops once no detector sees a face)", low=1, high=300,
                step=1),
          head=_hide_scene, head_sees="photo")
def hide_from_detectors(images: torch.Tensor, eps: float, steps: int) -> torch.Tensor:
    """De-detection: PGD against every differentiable detector at once (MMOD and YuNet)."""
    return EnsembleIFGSM(_hide_critics(), eps=eps, steps=int(steps))(images, _labels(images))


def _dlib_on_chips(chips: torch.Tensor) -> torch.Tensor:
    from facedid_lib.recognize import dlib_resnet

    return dlib_resnet.embed(chips)[:, None]


def _dlib_in_window(transforms: np.ndarray, size: int, padding: float):
    from facedid_lib.align.chips import extract_chips
    from facedid_lib.recognize import dlib_resnet

    def embed(windows: torch.Tensor) -> torch.Tensor:
        return torch.stack([dlib_resnet.embed(extract_chips(w, transforms, size), padding, transforms=transforms)
                            for w in windows])

    return embed


def _away_from_dlib(embed, margin: float) -> AwayFrom:
    from facedid_lib.recognize.dlib_resnet import SAME_PERSON_THRESHOLD

    return AwayFrom("dlib", embed, SAME_PERSON_THRESHOLD, margin)


def _dodge_scene(window: torch.Tensor, mask: torch.Tensor, transforms: np.ndarray, size: int, padding: float,
                 alpha: float, steps: int, lam: float, margin: float) -> torch.Tensor:
    critics = ThroughJpeg(Critics([_away_from_dlib(_dlib_in_window(transforms, size, padding), margin)]),
                          JPEG_QUALITY)
    return EnsemblePFGVM(critics, alpha=alpha, steps=int(steps), lam=lam, mask=mask)(window, _labels(window))


@register("p-fgvm", "adversarial",
          Param("alpha", 5.0, "α, the step size (multiplies the raw gradient)", low=0.5, high=200.0, step=0.5),
          Param("steps", 150, "iterations at most (each photo stops once dlib matches none of its faces)",
                low=1, high=500, step=1),
          Param("lam", 0.05, "λ, weight of the penalty ||x' - x||²/2", low=0.0, high=5.0, step=0.01),
          Param("margin", 0.1, "how far past dlib's same-person distance 0.6 the face is pushed",
                low=0.0, high=1.0, step=0.05),
          head=_dodge_scene, head_sees="photo")
def p_fgvm(images: torch.Tensor, alpha: float, steps: int, lam: float, margin: float) -> torch.Tensor:
    """P-FGVM dodging dlib's face descriptor: the face no longer matches its owner."""
    critics = Critics([_away_from_dlib(_dlib_on_chips, margin)])
    return EnsemblePFGVM(critics, alpha=alpha, steps=int(steps), lam=lam)(images, _labels(images))
