"""k-A^3, the k-anonymity inspired adversarial attack (Mygdalis, Tefas and Pitas, Neural Networks 124, 2020).

A classifier ranks the labels of a face: ``r_x(i)`` is the ``i``-th most probable label,
``r_x(1) = argmax g(x; θ)``. Minimal attacks (L-BFGS, DeepFool, C&W) change ``r(1)`` and little
else: the true label ``y`` usually moves to rank 2, so the output still identifies the person to
anyone who reads the second guess (the activations are quasi-identifiers). k-A^3 asks more of the
de-identified face ``x_p = x + p``, over the whole set of faces:

``r_{x_p}(1) ≠ y``  and  ``P(r_{x_p}(i) = y) ≤ 1/k`` for every rank ``i``,

by solving (the lecture's objective)

``min_p ||p||_2 + (d - s(x, x_p)) + Σ_{i=2..k} J_i(f(x_p), t_i)``,

``t_i`` the label at rank ``i`` of the clean face, ``s`` an SSIM-type similarity (``s < d``).

**Our choices where the lecture is silent** (the paper's details are not in the course's sources):

- *The set constraint.* One objective per face cannot spread ``y`` over the ranks: the same loss
  would put it at the same rank for every face. Each face therefore gets a **designated rank**
  ``ρ ∈ {2, ..., k + 1}``, assigned in equal shares over the faces of a call (a seeded
  permutation of ``2, 3, ..., k + 1, 2, 3, ...``): if every face lands at its rank,
  ``P(r(i) = y) ≤ ⌈n / k⌉ / n`` for every ``i``, which is ``1/k`` when ``k`` divides ``n``.
- *The J_i.* The clean runner-ups ``t_2 ... t_ρ`` (``ρ - 1`` labels) must beat ``y``, and ``y``
  must beat every other label, with margin ``κ`` (the C&W margin form of a classification loss):
  ``Σ_{i=2..ρ} max(Z_y - Z_{t_i} + κ, 0) + max(max_{j ∉ {y, t_2..t_ρ}} Z_j - Z_y + κ, 0)``.
  For ``k = 1`` this is the minimal attack that swaps the first two labels.
- *The similarity.* ``d = 1`` and ``s`` the SSIM of :func:`facedid_lib.metrics.ssim`, weighted by
  ``w_ssim``: the distance is ``||p||_2 + w_ssim (1 - SSIM(x, x_p))``.
- *The optimiser.* That of C&W (:class:`facedid_lib.attacks.minimal.CW`): the box by
  ``x_p = (tanh(w) + 1) / 2``, Adam, the weight ``c`` of the J terms found by binary search per
  face, the least distorted success kept. A face succeeds when ``y`` sits exactly at its
  designated rank (so also ``r(1) ≠ y``); a face that never does is returned unchanged.

Example
-------
>>> import torch, torch.nn as nn
>>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 8)).eval()
>>> attack = KAnonymity(model, k=3, steps=30, search_steps=2)
>>> out = attack(torch.rand(6, 3, 16, 16), torch.arange(6))
>>> sorted(attack.designated.tolist())
[2, 2, 3, 3, 4, 4]
"""

from __future__ import annotations

import torch

from facedid_lib import metrics
from facedid_lib.core.params import Param
from facedid_lib.attacks import adversarial
from facedid_lib.attacks.minimal import CW

__all__ = ["KAnonymity", "designated_ranks", "rank_loss"]


def designated_ranks(n: int, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``(n,)`` ranks in ``2 .. k + 1`` in equal shares (within one), in a seeded random order."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    slots = 2 + torch.arange(n) % k
    return slots[torch.randperm(n, generator=generator)]


def rank_loss(logits: torch.Tensor, labels: torch.Tensor, above: torch.Tensor, kappa: float = 0.0) -> torch.Tensor:
    """``(N,)`` hinge loss that is 0 exactly when the labels of ``above`` (and no other) outrank ``y`` by ``κ``.

    ``above`` is an ``(N, C)`` bool mask of the labels that must score above the true label
    ``labels``: ``Σ_{j ∈ above} max(Z_y - Z_j + κ, 0) + max(max_{j ∉ above, j ≠ y} Z_j - Z_y + κ, 0)``.
    """
    z_y = logits.gather(1, labels[:, None])
    beat = ((z_y - logits + kappa).clamp_min(0) * above).sum(1)
    below = ~above
    below[torch.arange(len(labels)), labels] = False
    highest_below = logits.masked_fill(~below, float("-inf")).amax(1)
    stay = (highest_below - z_y[:, 0] + kappa).clamp_min(0)  # 0 when no label is left below
    return beat + stay


@adversarial.register
class KAnonymity(CW):
    """k-A^3: the true label pushed to a designated rank in ``2 .. k + 1``, with little and SSIM-aware change.

    Parameters
    ----------
    model : logits model (see :class:`facedid_lib.attacks.adversarial.Attack`).
    k : the k-anonymity level: the true label is spread over ranks ``2 .. k + 1``.
    w_ssim : weight of ``1 - SSIM(x, x_p)`` in the distance (the lecture's ``d - s``, ``d = 1``).
    kappa, c, steps, lr, search_steps, abort_early : those of :class:`~facedid_lib.attacks.minimal.CW`.

    After a call ``designated`` holds each face's rank ``ρ``; :meth:`perturb` collects them
    over the batches (each batch is assigned in equal shares).
    """

    name, key = "k-A^3", "k-a3"
    params = (Param("k", 5, "k, the anonymity level (the true label goes to a rank in 2..k+1)", low=1, high=15, step=1),
              Param("w_ssim", 1.0, "weight of the similarity term 1 - SSIM", low=0.0, high=20.0, step=0.5),
              Param("steps", 100, "Adam iterations per search round", low=10, high=500, step=10),
              Param("search_steps", 5, "binary-search rounds over c", low=1, high=10, step=1))
    per_face = ("targets", "c", "designated")

    def __init__(self, model, *, k: int = 5, w_ssim: float = 1.0, **kwargs):
        if kwargs.get("target", "untargeted") != "untargeted":
            raise ValueError("k-A^3 chooses its own ranks: target must be 'untargeted'")
        super().__init__(model, **kwargs)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive int, got {k!r}")
        if not w_ssim >= 0:
            raise ValueError(f"w_ssim must be non-negative, got {w_ssim}")
        self.k, self.w_ssim = k, float(w_ssim)
        self.designated: torch.Tensor | None = None
        self._ssim_to: tuple | None = None  # (the clean faces, their SSIMReference) during run

    def run(self, x, y, goal, generator):
        with torch.no_grad():
            logits = self.model(x)
        if logits.shape[1] < self.k + 1:
            raise ValueError(f"k-A^3 with k = {self.k} needs at least {self.k + 1} classes, the model has "
                             f"{logits.shape[1]}")
        self.designated = designated_ranks(len(x), self.k, generator).to(x.device)
        # the clean face's labels ranked after y, best first: t_2, t_3, ...
        others = logits.masked_fill(torch.nn.functional.one_hot(y, logits.shape[1]).bool(), float("-inf"))
        runner_ups = others.argsort(1, descending=True)
        position = torch.arange(logits.shape[1], device=x.device)[None]
        chosen = position < (self.designated - 1)[:, None]  # the first ρ - 1 runner-ups
        self._above = torch.zeros_like(logits, dtype=torch.bool).scatter(1, runner_ups, chosen)
        try:
            return super().run(x, y, goal, generator)
        finally:
            self._ssim_to = None  # the clean faces' statistics are not kept with the attack

    def distance(self, adv: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``||adv - x||_2 + w_ssim (1 - SSIM(adv, x))``; the clean faces' SSIM statistics are
        filtered once per :meth:`run` (:class:`~facedid_lib.metrics.SSIMReference`)."""
        l2 = ((adv - x).flatten(1).pow(2).sum(1) + 1e-12).sqrt()
        if self.w_ssim == 0:
            return l2
        if self._ssim_to is None or self._ssim_to[0] is not x:
            self._ssim_to = (x, metrics.SSIMReference(x))
        return l2 + self.w_ssim * (1 - self._ssim_to[1](adv))

    def loss(self, logits, images, goal):
        return rank_loss(logits, goal, self._above.to(logits.device), self.kappa)

    def success(self, logits, goal):
        rank = metrics.true_label_rank(logits.detach(), goal)
        return rank == self.designated.to(rank.device)
