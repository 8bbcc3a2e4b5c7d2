"""Adversarial protection of aligned face chips against an ensemble of differentiable models.

Chapters 5 and 6 attack one recognizer on faces it was trained to name. A stranger's photo names
nobody, so the attacks that protect real photos (:mod:`facedid_lib.methods.adversarial`) are
written against *critics*, each a per-chip hinge that is zero once the chip is safe from it:

- :class:`HiddenFrom` a detector ``D`` with threshold ``t`` (MMOD 0, YuNet 0.6):
  ``c_D(x') = sum_cells max(0, s_D(x') - (t - margin))``, zero once no cell is near a face
  (de-detection, :mod:`facedid_lib.attacks.dedetection`, on the chip);
- :class:`AwayFrom` a recognizer's descriptor ``e`` (dlib's ResNet: the same person below 0.6):
  ``c_e(x') = max(0, τ + margin - ||e(x') - e(x)||)``, zero once the protected face's descriptor
  lies farther than the same-person threshold ``τ`` from the clean face's (a *dodging* attack: the
  face is no longer matched to its owner, whoever the gallery holds).

:class:`Critics` stacks them into one model ``(N, 3, S, S) -> (N, K)``; the attacks minimise
``sum_k w_k c_k(x')`` with the steps of chapter 5 (:class:`EnsembleIFGSM`: signed steps in an L-inf
ε box, as PGD on a detector; :class:`EnsemblePFGVM`: the penalised gradient value steps of
P-FGVM, Chatzikyriakidis et al., ICIP 2019) and stop each face once every critic is satisfied.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from facedid_lib.attacks.adversarial import IFGSM, PFGVM
from facedid_lib.attacks.dedetection import differentiable_detector, threshold_and_margin
from facedid_lib.io.images import JPEG_QUALITY, jpeg_round_trip

__all__ = ["HiddenFrom", "AwayFrom", "ThroughJpeg", "Critics", "EnsembleIFGSM", "EnsemblePFGVM"]


class HiddenFrom(nn.Module):
    """How far a differentiable detector still sees a face on each chip: ``(N,)`` summed excess of
    its scores over ``t - margin`` (zero: hidden). ``margin`` None: down to its sensitive threshold."""

    def __init__(self, detector: str, margin: float | None = None):
        super().__init__()
        self.detector = detector
        self._entry = differentiable_detector(detector)
        self.threshold, self.margin = threshold_and_margin(detector, margin)

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        scores = self._entry.score_map(chips)
        return (scores - (self.threshold - self.margin)).clamp_min(0).flatten(1).sum(1)

    def extra_repr(self) -> str:
        return f"{self.detector!r}, below {self.threshold - self.margin:g}"


class AwayFrom(nn.Module):
    """How close the faces' descriptors still are to the clean faces': ``(N,)``, per image the sum
    over its faces of ``max(0, threshold + margin - ||e(x') - e(x)||)`` (zero: nobody is the same
    person any more).

    ``embed`` maps images to the descriptors of their faces, ``(N, F, D)`` (F faces per image: 1 for
    chips, every face for a photo), differentiably; :meth:`reset` records the clean faces'
    descriptors before an attack (the attack calls it).
    """

    def __init__(self, name: str, embed, threshold: float, margin: float = 0.1):
        super().__init__()
        if not margin >= 0:
            raise ValueError(f"margin must be non-negative, got {margin}")
        self.name, self.embed, self.threshold, self.margin = name, embed, float(threshold), float(margin)
        self.clean: torch.Tensor | None = None

    def reset(self, clean: torch.Tensor) -> None:
        with torch.no_grad():
            self.clean = self.embed(clean).detach()

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        if self.clean is None or len(self.clean) != len(chips):
            raise RuntimeError("AwayFrom needs the clean faces first: call reset(clean) (the attack does)")
        distance = (self.embed(chips) - self.clean).norm(dim=-1)
        return (self.threshold + self.margin - distance).clamp_min(0).sum(1)

    def extra_repr(self) -> str:
        return f"{self.name!r}, beyond {self.threshold + self.margin:g}"


class ThroughJpeg(nn.Module):
    """``model`` on the images as a JPEG file would give them back (8-bit rounding and JPEG at
    ``quality``), with the gradient passed straight through the codec (``x + (jpeg(x) - x).detach()``,
    BPDA: Athalye, Carlini, Wagner, ICML 2018): an attack that succeeds here survives the writing.
    The images' top-left pixel must sit on the JPEG's 8 x 8 grid of the file to come (a whole
    photo, or a window starting at multiples of 8)."""

    def __init__(self, model: nn.Module, quality: int = JPEG_QUALITY):
        super().__init__()
        if not 1 <= int(quality) <= 100:
            raise ValueError(f"quality must lie in [1, 100], got {quality}")
        self.model, self.quality = model, int(quality)

    def reset(self, clean: torch.Tensor) -> None:
        if hasattr(self.model, "reset"):
            self.model.reset(clean)

    @property
    def weights(self) -> torch.Tensor:
        return self.model.weights

    def _jpeg(self, images: torch.Tensor) -> torch.Tensor:
        back = [torch.from_numpy(jpeg_round_trip(image, self.quality)).permute(2, 0, 1) for image in images.detach()]
        return torch.stack(back).to(images.device, images.dtype) / 255

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images + (self._jpeg(images) - images).detach())


class Critics(nn.Module):
    """Several critics as one model: ``(N, 3, S, S) -> (N, K)``, column k the k-th critic's hinge."""

    def __init__(self, critics: Sequence[nn.Module], weights: Sequence[float] | None = None):
        super().__init__()
        if not critics:
            raise ValueError("give at least one critic")
        self.critics = nn.ModuleList(critics)
        weights = [1.0] * len(critics) if weights is None else [float(w) for w in weights]
        if len(weights) != len(critics) or any(not w > 0 for w in weights):
            raise ValueError(f"give one positive weight per critic, got {weights}")
        self.register_buffer("weights", torch.tensor(weights))

    def reset(self, clean: torch.Tensor) -> None:
        for critic in self.critics:
            if hasattr(critic, "reset"):
                critic.reset(clean)

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        return torch.stack([critic(chips) for critic in self.critics], 1)


class _Ensemble:
    """The hooks shared by the ensemble attacks: the weighted sum of the critics, success when
    every critic is zero, and the clean faces handed to the critics first."""

    model: nn.Module  #: a :class:`Critics`, or one seen through :class:`ThroughJpeg`

    def run(self, x, y, goal, generator):
        if hasattr(self.model, "reset"):
            self.model.reset(x)
        return super().run(x, y, goal, generator)

    def loss(self, logits, images, goal):
        return logits @ self.model.weights.to(logits)

    def success(self, logits, goal):
        return (logits == 0).all(1)


class EnsembleIFGSM(_Ensemble, IFGSM):
    """I-FGSM on the critics: ``x_{i+1} = clip(clip_ε(x_i - α sign(∇ sum_k w_k c_k)))``, each face
    frozen once every critic is zero (the labels given to a call are not used)."""

    name, key = "ensemble I-FGSM", "ensemble-i-fgsm"

    def __init__(self, critics: nn.Module, *, eps: float = 0.03, alpha: float | None = None, steps: int = 20,
                 **kwargs):
        super().__init__(critics, eps=eps, alpha=eps / 4 if alpha is None else alpha, steps=steps,
                         early_stop=True, **kwargs)


class EnsemblePFGVM(_Ensemble, PFGVM):
    """P-FGVM on the critics: ``x_{i+1} = clip(x_i - α (∇ sum_k w_k c_k + λ (x_i - x)))``, each face
    frozen once every critic is zero."""

    name, key = "ensemble P-FGVM", "ensemble-p-fgvm"

    def __init__(self, critics: nn.Module, *, alpha: float = 1.0, steps: int = 20, lam: float = 0.1, **kwargs):
        super().__init__(critics, alpha=alpha, steps=steps, lam=lam, early_stop=True, **kwargs)
