"""m-SVDD trained end to end: Model A's trunk and its m one-class classifiers learn together.

Chapter 7's defence (:mod:`facedid_lib.defences.svdd`) fits the ``m`` one-class classifiers on the
**frozen** penultimate features of a trained recognizer. On Model A it detects almost nothing: the
classifiers hold its 21 training faces per identity tight in 512 dimensions and place new faces of
the same people as far out as attacked ones. The lecture replaces the network's classification
layer by the ``m`` classifiers; Mygdalis, Tefas and Pitas (Neural Networks 124, 2020) train the
network with them, so that the features themselves gather each identity around its centre. Here
the trunk ``f`` (:class:`~facedid_lib.defences.svdd.Penultimate` of a copy of Model A: its
convolutions and its 512-unit hidden layer) starts from the trained recognizer's weights and learns
together with the classifiers, on the objective of :class:`~facedid_lib.defences.svdd.OneClass`:

    ``min_{f, φ} (1/N) Σ_i ||φ_{y_i}(f(x_i)) - c_{y_i}||²``
    ``+ η · mean_{i, j ≠ y_i} 1 / (||φ_j(f(x_i)) - c_j||² + 10⁻⁶)``

with Adam, the trunk at the learning rate ``trunk_lr`` and the classifiers at ``lr``. What stays
fixed: the features' standardisation and the centres ``c_j``, set from the starting trunk's
features (Ruff et al., ICML 2018: a centre that trains lets the network collapse onto it); batch
norm's statistics and dropout, as in eval mode (the trunk keeps the statistics it was trained
with). The trunk has bias terms, which pure Deep SVDD forbids because a network with biases can map
every face onto the centres: the second term (``η > 0``, the other identities' faces pushed out,
Deep SAD's labelled anomalies) is what rules that out, so ``η = 0`` is refused here.

Early stopping keeps the epoch of the best validation accuracy of ``argmax_j g_j``; ``T(a)`` is read
from the validation faces as in chapter 7 (:class:`~facedid_lib.defences.svdd.MSVDD`), so both
defences are used and measured the same way. The result is cached under Model A's weights, its
faces, the recipe and the seed (:data:`SVDD_END_TO_END`, zoo name ``"m-svdd-end-to-end"``).

Example
-------
>>> import torch
>>> from facedid_lib.defences import svdd_end_to_end
>>> g = torch.Generator().manual_seed(0)
>>> trunk = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 8))
>>> centres = torch.randn(3, 12, generator=g) * 3
>>> labels = torch.arange(3).repeat_interleave(10)
>>> images = (centres[labels] + torch.randn(30, 12, generator=g)).reshape(30, 3, 2, 2)
>>> defence = svdd_end_to_end.fit(trunk, images, labels, images, labels, hidden=16, out_features=4, epochs=5,
...                               progress=False)
>>> bool((defence.classify(images) == labels).float().mean() > 0.9), defence.svdd.in_features
(True, 8)
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from facedid_lib.core import cache, config, zoo
from facedid_lib.core.train import History, Task, fit as fit_task
from facedid_lib.defences.svdd import MSVDD, DefendedNetwork, MultiSVDD, Penultimate, one_class_loss

__all__ = ["EndToEnd", "fit", "Recipe", "SVDD_END_TO_END", "defend"]


class EndToEnd(Task):
    """The task of :func:`facedid_lib.core.train.fit` that trains a trunk and the ``m`` classifiers
    on images: :func:`~facedid_lib.defences.svdd.one_class_loss` of the trunk's features; Adam with
    two learning rates (``trunk_lr`` for the trunk, ``lr`` for the classifiers) and weight decay.
    The validation score is the accuracy of ``argmax_j g_j`` on held-out faces, with the scales
    ``s_j`` of the current weights (as :class:`~facedid_lib.defences.svdd.OneClass`'s)."""

    score_name = "accuracy"

    def __init__(self, trunk: nn.Module, svdd: MultiSVDD, x_train, y_train, x_val, y_val, lr: float = 1e-3,
                 trunk_lr: float = 1e-4, weight_decay: float = 1e-5, eta: float = 1.0):
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or eta <= 0:
            raise ValueError(f"eta must be a positive number (a trunk with bias terms collapses onto the "
                             f"centres without the other identities' term), got {eta!r}")
        self.trunk, self.svdd = trunk, svdd
        self.lr, self.trunk_lr, self.weight_decay, self.eta = lr, trunk_lr, weight_decay, float(eta)
        self.x_train, self.y_train, self.x_val, self.y_val = x_train, y_train, x_val, y_val

    def networks(self) -> dict[str, nn.Module]:
        return {"trunk": self.trunk, "svdd": self.svdd}

    def configure(self) -> None:
        self.optimizer = torch.optim.Adam([{"params": self.svdd.parameters(), "lr": self.lr},
                                           {"params": self.trunk.parameters(), "lr": self.trunk_lr}],
                                          weight_decay=self.weight_decay)

    def loss(self, batch) -> torch.Tensor:
        images, y = batch
        return one_class_loss(self.svdd, self.trunk(images), y, self.eta)

    def score(self) -> float:
        device = self.svdd.w1.device
        self.svdd.set_scales(_features(self.trunk, self.x_train, device), self.y_train.to(device))
        predicted = self.svdd(_features(self.trunk, self.x_val, device)).argmax(1)
        return float((predicted == self.y_val.to(device)).float().mean())


@torch.no_grad()
def _features(trunk: nn.Module, images: torch.Tensor, device, batch_size: int = 64) -> torch.Tensor:
    trunk.eval()
    return torch.cat([trunk(images[i:i + batch_size].to(device)) for i in range(0, len(images), batch_size)])


def fit(trunk: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor,
        *, hidden: int = 128, out_features: int = 32, epochs: int = 6, patience: int = 3, lr: float = 1e-3,
        trunk_lr: float = 1e-4, weight_decay: float = 1e-5, eta: float = 1.0, batch_size: int = 32, seed: int = 0,
        device=None, progress: bool = True, name: str = "m-SVDD (end to end)") -> MSVDD:
    """Train ``trunk`` (images -> ``(N, D)`` features; trained in place) and ``m`` one-class
    classifiers on its features together (no cache; :func:`defend` caches).

    ``x_train, y_train``: training images and identities ``0 .. m-1``; ``x_val, y_val``: held-out
    faces for early stopping and for ``T(a)``. The standardisation and the centres are set from the
    starting trunk's features. Returns an :class:`~facedid_lib.defences.svdd.MSVDD` whose trunk is
    the trained one.
    """
    device = config.resolve_device(device)
    y_train, y_val = torch.as_tensor(y_train), torch.as_tensor(y_val)
    trunk.to(device)
    z_start = _features(trunk, x_train, device)
    config.seed_everything(seed)
    svdd = MultiSVDD(int(y_train.max()) + 1, z_start.shape[1], hidden, out_features).to(device)
    svdd.set_standardisation(z_start)
    svdd.set_centres(z_start, y_train.to(device))
    task = EndToEnd(trunk, svdd, x_train, y_train, x_val, y_val, lr=lr, trunk_lr=trunk_lr,
                    weight_decay=weight_decay, eta=eta)
    history = fit_task(task, (x_train, y_train), epochs=epochs, batch_size=batch_size, patience=patience, seed=seed,
                       device=device, progress=progress, desc=f"{name} (trunk and one-class)")
    svdd.set_scales(_features(trunk, x_train, device), y_train.to(device))
    with torch.no_grad():
        calibration = svdd(_features(trunk, x_val, device)).amax(1)
    return MSVDD(svdd, calibration, trunk=trunk.eval(), history=history, name=name)


@dataclass(frozen=True)
class Recipe:
    """How Model A's trunk and m-SVDD are trained together (:func:`fit`'s parameters)."""

    hidden: int = 128
    out_features: int = 32
    epochs: int = 6
    patience: int = 3
    lr: float = 1e-3
    trunk_lr: float = 1e-4
    weight_decay: float = 1e-5
    eta: float = 1.0
    batch_size: int = 32


def _fit(r: Recipe, splits, *, seed, device, progress, source, of, name: str | None = None) -> MSVDD:
    """Model A (its result, or its zoo name ``"model-a"``) with its trunk and m-SVDD trained together (cached)."""
    from facedid_lib.core.ops import resize
    from facedid_lib.recognize.recognizers import ModelA

    trained = zoo.trained(of, seed=seed, device=device, progress=progress, source=source) if isinstance(of, str) else of
    if not isinstance(trained.model, ModelA):
        raise TypeError(f"the end-to-end m-SVDD trains Model A's trunk, got {type(trained.model).__name__}")
    size = trained.recipe.image_size
    x_train, x_val = resize(trained.train.images.cpu(), size), resize(trained.val.images.cpu(), size)
    y_train, y_val = trained.train.labels, trained.val.labels
    name = name or "Model A + m-SVDD (end to end)"

    def build():
        trunk = Penultimate(copy.deepcopy(trained.model).cpu(), size)
        config.seed_everything(seed)
        return DefendedNetwork(trunk, MultiSVDD(trained.train.n_classes, trunk.out_features, r.hidden,
                                                r.out_features))

    def train(network):
        defence = fit(network.trunk, x_train, y_train, x_val, y_val, **asdict(r), seed=seed, device=device,
                      progress=progress, name=name)
        network.svdd.load_state_dict(defence.svdd.state_dict())
        return defence.history.as_dict()

    start = hashlib.sha256(b"".join(t.detach().cpu().contiguous().numpy().tobytes()
                                    for t in trained.model.state_dict().values())).hexdigest()
    faces = hashlib.sha256(x_train.numpy().tobytes() + x_val.numpy().tobytes()).hexdigest()
    network, info = cache.trained("m-svdd-end-to-end", build, train, start, faces, y_train.tolist(), y_val.tolist(),
                                  asdict(r), seed)
    network.to(device).eval()
    with torch.no_grad():
        calibration = network.svdd(_features(network.trunk, x_val, device)).amax(1)
    return MSVDD(network.svdd, calibration, trunk=network.trunk, history=History(**info), name=name)


SVDD_END_TO_END = zoo.register(zoo.Spec(
    name="m-svdd-end-to-end",
    about="Model A's trunk (convolutions and hidden layer, from the trained recognizer's weights) and m "
          "one-class classifiers trained together on m-SVDD's objective (Mygdalis, Tefas and Pitas 2020; "
          "Deep SVDD of Ruff et al. 2018 with the other identities pushed out, eta 1): hidden 128, output "
          "32, Adam lr 1e-3 for the classifiers and 1e-4 for the trunk, weight decay 1e-5, batch 32, batch "
          "norm's statistics frozen; quick: 6 epochs (patience 3); full: 40 epochs (patience 10).",
    network=DefendedNetwork, task=EndToEnd,
    recipes={"quick": Recipe(), "full": Recipe(epochs=40, patience=10)},
    split=None, fit=_fit))


def defend(trained, seed: int = 0, device=None, progress: bool = True, name: str | None = None,
           recipe: Recipe | None = None) -> MSVDD:
    """Model A's end-to-end m-SVDD defence (``recognizers.model_a()`` or ``"model-a"``):
    ``zoo.trained("m-svdd-end-to-end", of=trained, ...)``; an
    :class:`~facedid_lib.defences.svdd.MSVDD` used like chapter 7's (``recognizer(a)``, ``network``,
    ``rejects``). ``recipe``: a :class:`Recipe` (None: the profile's)."""
    return zoo.trained("m-svdd-end-to-end", recipe, seed=seed, device=device, progress=progress, of=trained,
                       name=name)
