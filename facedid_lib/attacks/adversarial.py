"""Adversarial face de-identification: small perturbations that fool a face recognizer.

Iterative gradient attacks on a classifier ``f`` that returns logits, as in Chatzikyriakidis,
Papaioannidis and Pitas, "Adversarial face de-identification", ICIP 2019. With ``J`` the
cross-entropy, every attack minimises a per-face loss

- targeted (the face is to be recognised as ``t``): ``L(x) = J(f(x), t)``;
- untargeted (the face is not to be recognised as its true ``y``): ``L(x) = -J(f(x), y)``;

by steps from the clean face ``x`` (``g_i = ∇_x L(x_i)``, one gradient per face, so a face's
steps do not depend on the other faces of its batch):

==========  ==============================================================================
I-FGSM      ``x_{i+1} = clip_[0,1](clip_[x-ε, x+ε](x_i - α sign(g_i)))``  (Kurakin et al. 2017)
I-FGVM      ``x_{i+1} = clip_[0,1](clip_[x-ε, x+ε](x_i - α g_i))``  (the raw gradient, Rozsa et al. 2016)
P-FGVM      ``x_{i+1} = clip_[0,1](x_i - α (g_i + λ (x_i - x)))``: the gradient of
            ``L(x_i) + λ/2 ||x_i - x||²``; no ε box, the penalty keeps the face close
PGD         I-FGSM from a random start ``x_0 = x + U(-ε, ε)`` (Madry et al. 2018)
==========  ==============================================================================

Calling convention as in torchattacks: ``attack = PFGVM(model, alpha=..., steps=...)``, then
``attack(images, labels)`` on ``(N, 3, H, W)`` images in [0, 1]; the result lies on the images'
device. Targets: ``target="untargeted"``, ``"random"`` (a random other identity, seeded),
``"least_likely"`` (the clean face's lowest logit), or given per face as ``attack(images,
labels, targets=...)``. ``early_stop=True`` freezes each face at its first successful iterate.
After a call, ``attack.history`` holds the per-iteration mean loss, success rate and L2 norm of
the perturbation (of the iterate the step starts from), and ``attack.targets`` the targets used.

Every attack on a recognizer is in :data:`ATTACKS`, registered by the :func:`register` decorator
on its class under its ``key`` (lowercase kebab-case: ``"i-fgsm"``, ``"cw"``, ``"k-a3"``); its
``name``, the title that tables and figures show (``"I-FGSM"``, ``"C&W"``, ``"k-A^3"``), is an
alias, so :func:`make` takes either.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from facedid_lib.core.checks import check_images
from facedid_lib.core.config import module_device
from facedid_lib.core.params import Param
from facedid_lib.core.registry import Registry

TARGET_MODES = ("untargeted", "random", "least_likely")

_TARGET = Param("target", "untargeted", "whom the face should be recognised as", choices=TARGET_MODES)
_STEPS = Param("steps", 20, "N, the number of iterations", low=1, high=200, step=1)
_EPS = Param("eps", 0.03, "ε, the largest change of a pixel value (L-inf box)", low=0.0, high=0.3, step=0.005)


#: Every attack class on a recognizer, by ``key``; each one's ``name`` (its display title) is an
#: alias. The attacks of :mod:`~facedid_lib.attacks.minimal`, :mod:`~facedid_lib.attacks.kanonymity`
#: and :mod:`~facedid_lib.attacks.adaptive` register themselves here when their module is imported
#: (importing the package :mod:`facedid_lib.attacks` imports them all).
ATTACKS: Registry = Registry("attack")


def register(cls: type) -> type:
    """Class decorator: register the attack class ``cls`` in :data:`ATTACKS` under ``cls.key``, with
    ``cls.name`` (the title tables and figures show) as an alias. The class must set its own
    ``key``: a subclass that inherited its parent's would be refused as a duplicate."""
    if "key" not in vars(cls) or "name" not in vars(cls):
        raise TypeError(f"{cls.__name__} must set its own key (the registry name) and name (the title)")
    ATTACKS.register(cls.key, cls, aliases=(cls.name,))
    return cls


def _labels(values, n: int, name: str, device) -> torch.Tensor:
    values = torch.as_tensor(values)
    if values.shape != (n,) or values.is_floating_point() or values.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor of shape ({n},), got {values.dtype} {tuple(values.shape)}")
    return values.to(device)


class Attack:
    """Base of the attacks: targets, the hooks, the loop, early stop and the record.

    Parameters
    ----------
    model : ``nn.Module`` mapping ``(N, 3, H, W)`` images in [0, 1] to ``(N, C)`` logits (or any
        output the attack's :meth:`loss` understands, such as a detector's score map); it is run
        in eval mode, its weights are not changed, and its training mode is restored after a
        call. The attack runs on the model's device.
    alpha : step size α.
    steps : number of iterations N.
    target : ``"untargeted"``, ``"random"`` or ``"least_likely"`` (see the module's docstring).
    early_stop : stop changing a face once :meth:`success` holds for it.
    seed : seed of the random targets and of random starts.
    keep : iterations whose iterates are stored in ``attack.snapshots`` (on the CPU), e.g. for the
        evolution figure; the final images are the last one.
    mask : optional bool tensor broadcastable to the images (``(N or 1, 1 or 3, H, W)``): the
        pixels that may change; the others keep their clean values.

    The hooks a new attack overrides (each attack of chapters 5 and 6 is one small class):

    - :meth:`loss` ``(logits, images, goal) -> (N,)``, minimised face by face; the default is the
      cross-entropy towards the target, or minus the cross-entropy of the true label;
    - :meth:`success` ``(logits, goal) -> (N,) bool``, the default the argmax test;
    - :meth:`start` and :meth:`step` for the iterative gradient attacks, or :meth:`run` for an
      attack with a loop of its own (DeepFool, C&W, L-BFGS: :mod:`facedid_lib.attacks.minimal`).
    """

    #: the title tables, figures and widgets show (an alias in :data:`ATTACKS`)
    name = "attack"
    #: the registry key in :data:`ATTACKS`, lowercase kebab-case
    key = "attack"
    params: tuple[Param, ...] = ()
    #: per-face records of a call that :meth:`perturb` concatenates over the batches
    per_face: tuple[str, ...] = ("targets",)

    def __init__(self, model: nn.Module, *, alpha: float, steps: int, target: str = "untargeted",
                 early_stop: bool = False, seed: int = 0, keep: Sequence[int] = (), mask: torch.Tensor | None = None):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module returning logits, got {type(model).__name__}")
        if not alpha > 0:
            raise ValueError(f"alpha must be positive, got {alpha}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be a positive int, got {steps!r}")
        if target not in TARGET_MODES:
            raise ValueError(f"target must be one of {TARGET_MODES}, got {target!r}")
        if mask is not None and (not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.ndim != 4):
            raise ValueError("mask must be a 4-D bool tensor broadcastable to the images")
        self.model, self.alpha, self.steps, self.target = model, float(alpha), steps, target
        self.early_stop, self.seed, self.keep, self.mask = early_stop, seed, tuple(keep), mask
        self.history: dict = {}
        self.snapshots: dict = {}
        self.targets: torch.Tensor | None = None

    @property
    def targeted(self) -> bool:
        """Whether the current call has targets (set by :meth:`__call__` before :meth:`run`)."""
        return self.targets is not None

    # --- the hooks ----------------------------------------------------------------------------
    def loss(self, logits: torch.Tensor, images: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """``(N,)`` loss to minimise: ``J(f(x), t)`` targeted, ``-J(f(x), y)`` untargeted (``J``: cross-entropy)."""
        sign = 1.0 if self.targeted else -1.0
        return sign * F.cross_entropy(logits, goal, reduction="none")

    def success(self, logits: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        """``(N,)`` bool: recognised as the target (targeted), or not as the true label (untargeted)."""
        pred = logits.argmax(1)
        return pred == goal if self.targeted else pred != goal

    def start(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The first iterate ``x_0`` (the clean face unless the attack starts elsewhere)."""
        return x.clone()

    def step(self, x_i: torch.Tensor, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """``x_{i+1}`` from the iterate, the clean face and the gradient of the loss."""
        raise NotImplementedError

    def masked(self, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
        """``new`` where :attr:`mask` allows a change, ``old`` elsewhere (``new`` when there is no mask)."""
        return new if self.mask is None else torch.where(self.mask.to(new.device), new, old)

    # --- the loop -----------------------------------------------------------------------------
    def _choose_targets(self, x, labels, targets, generator):
        if targets is not None:
            return _labels(targets, len(x), "targets", x.device)
        if self.target == "untargeted":
            return None
        with torch.no_grad():
            logits = self.model(x)
        if self.target == "least_likely":
            return logits.argmin(1)
        n_classes = logits.shape[1]
        if n_classes < 2:
            raise ValueError("a random other identity needs at least 2 classes")
        shift = torch.randint(1, n_classes, (len(x),), generator=generator).to(x.device)
        return (labels + shift) % n_classes

    def __call__(self, images: torch.Tensor, labels, targets=None) -> torch.Tensor:
        check_images(images)
        device = module_device(self.model, images.device)
        x = images.detach().to(device)
        y = _labels(labels, len(x), "labels", device)
        generator = torch.Generator().manual_seed(self.seed)
        modes = [(module, module.training) for module in self.model.modules()]
        self.model.eval()
        try:
            self.targets = self._choose_targets(x, y, targets, generator)
            out = self.run(x, y, y if self.targets is None else self.targets, generator)
        finally:  # every submodule's own mode: a wrapper in training mode around an eval-mode model stays so
            for module, mode in modes:
                module.training = mode
        return out.detach().to(images.device)

    def run(self, x: torch.Tensor, y: torch.Tensor, goal: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The iterative gradient loop: ``x_{i+1} = step(x_i, x, ∇ loss(x_i))`` where the mask allows."""
        x_i = self.masked(self.start(x, generator).clamp(0, 1), x)
        active = torch.ones(len(x), dtype=torch.bool, device=x.device)
        record = {"loss": [], "success": [], "l2": []}
        self.snapshots = {0: x_i.cpu()} if 0 in self.keep else {}
        for i in range(self.steps):
            x_i.requires_grad_(True)
            logits = self.model(x_i)
            loss = self.loss(logits, x_i, goal)
            grad, = torch.autograd.grad(loss.sum(), x_i)
            with torch.no_grad():
                x_i = x_i.detach()
                success = self.success(logits, goal)
                record["loss"].append(loss.mean())
                record["success"].append(success.float().mean())
                record["l2"].append((x_i - x).flatten(1).norm(dim=1).mean())
                if self.early_stop:
                    active &= ~success
                    if not active.any():
                        break
                    x_i = torch.where(active[:, None, None, None], self.masked(self.step(x_i, x, grad), x_i), x_i)
                else:
                    x_i = self.masked(self.step(x_i, x, grad), x_i)
            if i + 1 in self.keep:
                self.snapshots[i + 1] = x_i.cpu()
        self.history = {name: torch.stack(values).tolist() for name, values in record.items()}
        return x_i

    def perturb(self, images: torch.Tensor, labels, targets=None, batch_size: int = 32,
                progress: bool = True, desc: str | None = None) -> torch.Tensor:
        """The attack over a whole face set, batch by batch, with a progress bar.

        Returns the de-identified images on the CPU; ``self.targets`` (and every other per-face
        record named in :attr:`per_face`) holds every face's value (None when the attack has
        none) and ``self.history`` the per-iteration means over all the faces.
        """
        check_images(images)
        labels = torch.as_tensor(labels)
        out, records, sizes = [], [], []
        kept = {name: [] for name in self.per_face}
        for start in tqdm(range(0, len(images), batch_size), desc=desc or self.name,
                          disable=not progress):
            part = slice(start, start + batch_size)
            given = None if targets is None else torch.as_tensor(targets)[part]
            out.append(self(images[part], labels[part], given).cpu())
            for name, values in kept.items():
                if getattr(self, name) is not None:
                    values.append(getattr(self, name).cpu())
            records.append(self.history)
            sizes.append(len(out[-1]))
        for name, values in kept.items():
            setattr(self, name, torch.cat(values) if values else None)
        self.history = _pooled(records, sizes)
        return torch.cat(out)

    def __repr__(self) -> str:
        shown = ", ".join(f"{p.name}={getattr(self, p.name)!r}" for p in self.params)
        return f"{type(self).__name__}({shown})"


def _pooled(records: list[dict], sizes: list[int]) -> dict:
    """Per-iteration means over several batches' records, weighted by batch size.

    A batch that stopped early (every face frozen) keeps its last values for the iterations it
    did not run: its faces no longer change.
    """
    steps = max(len(r["loss"]) for r in records)
    pooled = {}
    for name in records[0]:
        padded = torch.tensor([r[name] + r[name][-1:] * (steps - len(r[name])) for r in records])
        pooled[name] = (torch.tensor(sizes, dtype=padded.dtype) @ padded / sum(sizes)).tolist()
    return pooled


@register
class IFGSM(Attack):
    """I-FGSM (the basic iterative method): signed gradient steps inside an L-inf ε box.

    ``x_{i+1} = clip_[0,1](clip_[x-ε, x+ε](x_i - α sign(∇L(x_i))))`` (Kurakin, Goodfellow, Bengio,
    "Adversarial examples in the physical world", 2017). Untargeted, it equals torchattacks' BIM.

    Example
    -------
    >>> import torch, torch.nn as nn
    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))
    >>> adv = IFGSM(model, eps=8 / 255, alpha=2 / 255, steps=5)(torch.rand(2, 3, 8, 8), torch.tensor([0, 1]))
    >>> adv.shape
    torch.Size([2, 3, 8, 8])
    """

    name, key = "I-FGSM", "i-fgsm"
    params = (Param("alpha", 0.004, "α, the step size", low=0.0005, high=0.05, step=0.0005),
              _STEPS, _EPS, _TARGET)

    def __init__(self, model, *, eps: float = 0.03, alpha: float = 0.004, steps: int = 20, **kwargs):
        super().__init__(model, alpha=alpha, steps=steps, **kwargs)
        if not eps >= 0:
            raise ValueError(f"eps must be non-negative, got {eps}")
        self.eps = float(eps)

    def direction(self, grad: torch.Tensor) -> torch.Tensor:
        return grad.sign()

    def step(self, x_i, x, grad):
        moved = x_i - self.alpha * self.direction(grad)
        return torch.clamp(moved, x - self.eps, x + self.eps).clamp(0, 1)


@register
class IFGVM(IFGSM):
    """I-FGVM: like I-FGSM but with the raw gradient (its value, not its sign).

    ``x_{i+1} = clip_[0,1](clip_[x-ε, x+ε](x_i - α ∇L(x_i)))`` (the fast gradient value method of
    Rozsa, Rudd, Boult, "Adversarial diversity and hard positive generation", CVPR-W 2016, iterated
    as in Chatzikyriakidis et al. 2019). α is in units of the gradient: it depends on the model.
    """

    name, key = "I-FGVM", "i-fgvm"
    params = (Param("alpha", 1.0, "α, the step size (multiplies the raw gradient)", low=0.01, high=200.0, step=0.01),
              _STEPS, _EPS, _TARGET)

    def direction(self, grad: torch.Tensor) -> torch.Tensor:
        return grad


@register
class PFGVM(Attack):
    """P-FGVM, the penalised fast gradient value method of Chatzikyriakidis et al. (ICIP 2019).

    ``x_{i+1} = clip_[0,1](x_i - α (∇L(x_i) + λ (x_i - x)))``: gradient descent on
    ``L(x) + λ/2 ||x - x_orig||²``. There is no ε box: the penalty λ trades the attack's loss
    against the size of the perturbation. ``start="noise"`` starts from uniform noise instead of
    the face (the paper's Figure 2): the penalty then pulls the image towards the face while the
    loss keeps it away from the true identity.
    """

    name, key = "P-FGVM", "p-fgvm"
    params = (Param("alpha", 1.0, "α, the step size (multiplies the raw gradient)", low=0.01, high=200.0, step=0.01),
              _STEPS, Param("lam", 0.1, "λ, weight of the penalty ||x' - x||²/2", low=0.0, high=5.0, step=0.01),
              _TARGET)

    def __init__(self, model, *, alpha: float = 1.0, steps: int = 20, lam: float = 0.1, start: str = "face",
                 **kwargs):
        super().__init__(model, alpha=alpha, steps=steps, **kwargs)
        if not lam >= 0:
            raise ValueError(f"lam must be non-negative, got {lam}")
        if start not in ("face", "noise"):
            raise ValueError(f"start must be 'face' or 'noise', got {start!r}")
        self.lam, self.start_from = float(lam), start

    def start(self, x, generator):
        if self.start_from == "face":
            return x.clone()
        return torch.rand(x.shape, generator=generator).to(x.device, x.dtype)

    def step(self, x_i, x, grad):
        return (x_i - self.alpha * (grad + self.lam * (x_i - x))).clamp(0, 1)


@register
class PGD(IFGSM):
    """L-inf PGD (Madry et al., ICLR 2018): I-FGSM from a uniform random start in the ε box."""

    name, key = "PGD", "pgd"

    def start(self, x, generator):
        noise = (torch.rand(x.shape, generator=generator) * 2 - 1).to(x.device, x.dtype) * self.eps
        return x + noise


def make(name: str, model: nn.Module, **params) -> Attack:
    """The attack called ``name`` in :data:`ATTACKS` (its key, ``"p-fgvm"``, or its title,
    ``"P-FGVM"``) on ``model``; an unknown name raises
    :class:`~facedid_lib.core.registry.UnknownName` (a ``ValueError``) that lists the known ones."""
    return ATTACKS[name](model, **params)


__all__ = ["Attack", "IFGSM", "IFGVM", "PFGVM", "PGD", "ATTACKS", "TARGET_MODES", "make", "register"]
