"""The adaptive attacker: an attack that knows the defence and is built to pass it.

A defence that is measured only against attacks written before it tells little: Carlini and
Wagner ("Adversarial examples are not easily detected: bypassing ten detection methods",
AISec 2017) and Tramèr, Carlini, Brendel and Madry ("On adaptive attacks to adversarial example
defenses", NeurIPS 2020) break detector after detector by putting the detector into the attack's
loss. Against the m-SVDD defence (:mod:`facedid_lib.defences.svdd`) that is one term: the rejected
class ``m + 1`` is a class whose logit is the constant ``log T``, and the face must beat it too.

:class:`AdaptiveCW` is C&W's L2 attack (:class:`~facedid_lib.attacks.minimal.CW`) on a network
whose logits are log activations ``log g_j`` (the m-SVDD network), with the reject class in its
margin:

- untargeted: ``f(x') = max(max(Z_y, log T + μ) - max_{j≠y} Z_j, -κ)``: the best other identity
  must beat both the true one and the floor ``log T`` (by the safety margin ``μ``);
- targeted: ``f(x') = max(max(max_{j≠t} Z_j, log T + μ) - Z_t, -κ)``;

and its success test asks the same (the best other identity, or the target, above ``log T + μ``
and above the others by κ), so a face returned as adversarial is one the defence accepts. ``μ``
(``margin``, default 0.01, i.e. an activation 1 % above ``T``) keeps the face accepted when the
defended recognizer recomputes its activations in other batches (floating-point sums differ
in the last digits).

Importing this module registers ``"adaptive-cw"`` (its title ``"adaptive C&W"`` an alias) in
:data:`facedid_lib.attacks.adversarial.ATTACKS`.

Example
-------
>>> import torch, torch.nn as nn
>>> _ = torch.manual_seed(0)
>>> net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))
>>> model = nn.Sequential(net, nn.LogSoftmax(1)).eval()    # logits that are log "activations" <= 0
>>> x = torch.rand(3, 3, 8, 8)
>>> y = model(x).argmax(1)
>>> adv = AdaptiveCW(model, T=0.3, c=1.0, steps=100, lr=0.05, search_steps=4)(x, y)
>>> z = model(adv)
>>> accepted = z.amax(1) >= torch.log(torch.tensor(0.3))
>>> bool(((z.argmax(1) == y) | accepted).all())     # every face either unchanged or accepted
True
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from facedid_lib.core.params import Param
from facedid_lib.attacks import adversarial
from facedid_lib.attacks.minimal import CW

__all__ = ["AdaptiveCW", "floored_margin"]


def floored_margin(logits: torch.Tensor, goal: torch.Tensor, targeted: bool, floor: float,
                   kappa: float = 0.0) -> torch.Tensor:
    """``(N,)`` C&W's margin with a reject class of constant logit ``floor``, floored at ``-κ``.

    Untargeted ``max(max(Z_y, floor) - max_{j≠y} Z_j, -κ)``; targeted
    ``max(max(max_{j≠t} Z_j, floor) - Z_t, -κ)``: negative only where the goal's side beats both
    the other identities and the floor.
    """
    z_goal = logits.gather(1, goal[:, None]).squeeze(1)
    other = logits.masked_fill(F.one_hot(goal, logits.shape[1]).bool(), float("-inf")).amax(1)
    if targeted:
        margin = torch.maximum(other, torch.full_like(other, floor)) - z_goal
    else:
        margin = torch.maximum(z_goal, torch.full_like(z_goal, floor)) - other
    return margin.clamp_min(-kappa)


@adversarial.register
class AdaptiveCW(CW):
    """C&W's L2 attack that also passes an activation floor ``T`` (the m-SVDD defence's rule).

    ``model`` returns log activations (:attr:`facedid_lib.defences.svdd.MSVDD.network`); ``T`` is
    the defence's minimum activation (:meth:`facedid_lib.defences.svdd.MSVDD.threshold`), known to
    the attacker. The other parameters are :class:`~facedid_lib.attacks.minimal.CW`'s.
    """

    name, key = "adaptive C&W", "adaptive-cw"
    params = CW.params + (Param("T", 0.05, "T, the defence's minimum activation (the model gives log g)",
                                low=0.001, high=0.999, step=0.001),
                          Param("margin", 0.01, "μ, how far above log T an accepted face must be",
                                low=0.0, high=1.0, step=0.01))

    def __init__(self, model, *, T: float = 0.05, margin: float = 0.01, **kwargs):
        super().__init__(model, **kwargs)
        if isinstance(T, bool) or not isinstance(T, (int, float)) or not 0 < T < 1:
            raise ValueError(f"T must be in (0, 1), got {T!r}")
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or margin < 0:
            raise ValueError(f"margin must be non-negative, got {margin!r}")
        self.T, self.margin = float(T), float(margin)

    @property
    def floor(self) -> float:
        """``log T + μ``: the log activation an accepted adversarial face must reach."""
        return math.log(self.T) + self.margin

    def loss(self, logits, images, goal):
        """``(N,)`` :func:`floored_margin` at ``log T + μ``."""
        return floored_margin(logits, goal, self.targeted, self.floor, self.kappa)

    def success(self, logits, goal):
        """``(N,)`` bool: C&W's test, and the winning identity's log activation at least ``log T + μ``."""
        return super().success(logits, goal) & (logits.amax(1) >= self.floor)
