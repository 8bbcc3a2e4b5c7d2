"""m-SVDD: m one-class classifiers in place of a recognizer's last layer, and a class m + 1, "adversarial".

Mygdalis, Tefas and Pitas (Neural Networks 124, 2020; the lecture's last section) replace the
classification layer of a face recognizer by ``m`` non-linear one-class classifiers, one per
identity, and add a **minimum activation value** ``T > 0``: a face whose activation is below
``T`` on every one of the ``m`` classifiers belongs to the class ``m + 1``, "adversarial".

**Deep SVDD** (Ruff et al., ICML 2018) is the one-class classifier: a network ``φ`` without bias
terms maps the training samples of its class close to a fixed centre ``c``,

    ``min_W (1/n) Σ_i ||φ(z_i; W) - c||²``  (plus a weight decay),

with ``c`` the mean of ``φ(z_i; W_0)`` at initialisation. A centre that trains, or bias terms,
let ``φ`` map every input onto ``c`` (the hypersphere collapse); a fixed ``c`` and no bias forbid
that trivial solution.

Ours (:class:`MultiSVDD`, trained by :class:`OneClass`): one bias-free two-layer ``φ_j``
(LeakyReLU) per identity ``j`` on the recognizer's penultimate features ``z`` (Model A's 512
hidden units, Model B's 128-D dlib descriptor), standardised with the training faces'
per-feature mean and spread; all ``m`` classifiers are evaluated at once (batched weights).
Each classifier is trained on its own identity's faces and, as Deep SAD's labelled anomalies,
on the other identities' faces (:class:`OneClass`: pure one-class training on twenty faces per
identity forgets what tells the identities apart). The activation of classifier ``j`` is

    ``g_j(z) = exp(-||φ_j(z) - c_j||² / s_j)`` in (0, 1],

``s_j`` the mean squared distance of identity ``j``'s training faces (so that the ``m`` spheres
are on one scale: a typical training face has ``g = e^-1``). The network returns
``log g_j = -||φ_j(z) - c_j||² / s_j`` as its ``(N, m)`` logits, so the attacks of chapters 5 and 6
run on it unchanged; the label is ``argmax_j g_j``.

**T and a.** The lecture gives the rule (``g(x) < T 1`` for all ``m`` classifiers: adversarial) and a
defence parameter ``a`` (its table at ``a = 1`` and ``a = 0.97``) without saying how ``a`` enters.
Ours: ``T(a)`` is the ``(1 - a)``-quantile of ``max_j g_j`` over the **calibration faces**, clean
faces of the defender's own: ``a`` is the share of them that the rule accepts. At ``a = 1``, ``T``
is the smallest activation of any calibration face (none rejected: the "minimum activation
value"); at ``a = 0.97``, 3 % of them are rejected, ``T`` is higher and more attacks are detected,
the direction of the lecture's table. :class:`MSVDD` holds the trained classifiers, the
calibration and the rule; :meth:`MSVDD.recognizer` gives the defended recognizer
(:class:`facedid_lib.recognize.Defended`), whose ``REJECT`` is never counted as a success.

Example
-------
>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> centres = torch.randn(3, 8, generator=g) * 4
>>> labels = torch.arange(3).repeat_interleave(20)
>>> features = centres[labels] + torch.randn(60, 8, generator=g)
>>> defence = fit(features, labels, features, labels, hidden=16, out_features=4, epochs=30, progress=False)
>>> bool((defence.classify(features) == labels).float().mean() > 0.9)
True
>>> far = 40 * torch.ones(1, 8)                    # far from every identity: class m + 1
>>> bool(defence.rejects(far, a=1.0))
True
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from facedid_lib.core import cache, config, zoo
from facedid_lib.core.train import History, Task, fit as fit_task

__all__ = ["MultiSVDD", "one_class_loss", "OneClass", "MSVDD", "Penultimate", "DefendedNetwork", "fit", "Recipe",
           "SVDD", "defend"]

_MODEL_NAMES = {"ModelA": "Model A", "ModelB": "Model B"}

#: the fewest training faces per identity a one-class classifier is fitted on
MIN_FACES = 3


def _check_features(features, in_features: int | None = None, name: str = "features",
                    finite: bool = True) -> torch.Tensor:
    if not isinstance(features, torch.Tensor) or not features.is_floating_point() or features.ndim != 2:
        raise ValueError(f"{name} must be an (N, D) float tensor, got {type(features).__name__} "
                         f"{tuple(getattr(features, 'shape', ()))}")
    if in_features is not None and features.shape[1] != in_features:
        raise ValueError(f"{name} must have {in_features} columns (the classifiers' input size), "
                         f"got {features.shape[1]}")
    if len(features) == 0:
        raise ValueError(f"{name} is empty")
    if finite and not bool(torch.isfinite(features).all()):  # (a device sync: not in the forward pass)
        raise ValueError(f"{name} contains NaN or infinite values")
    return features


def _check_a(a) -> float:
    if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0 < a <= 1:
        raise ValueError(f"a must be in (0, 1] (the share of the calibration faces accepted), got {a!r}")
    return float(a)


def _check_threshold(T) -> float:
    if isinstance(T, bool) or not isinstance(T, (int, float)) or not 0 < T < 1:
        raise ValueError(f"T must be in (0, 1) (activations lie in (0, 1]), got {T!r}")
    return float(T)


class MultiSVDD(nn.Module):
    """``m`` Deep SVDD one-class classifiers on ``D``-dimensional features, evaluated at once.

    ``φ_j(z) = W2_j LeakyReLU(W1_j (z - μ) / σ)``, no bias; ``forward(z)`` returns the ``(N, m)``
    log activations ``log g_j(z) = -||φ_j(z) - c_j||² / s_j`` (see the module's docstring). ``μ``,
    ``σ`` (the features' standardisation), the centres ``c_j`` and the scales ``s_j`` are buffers:
    they are set from the training faces (:meth:`set_standardisation`, :meth:`set_centres`,
    :meth:`set_scales`) and never trained.
    """

    def __init__(self, n_classes: int, in_features: int, hidden: int = 128, out_features: int = 32,
                 slope: float = 0.1):
        super().__init__()
        for name, value in (("n_classes", n_classes), ("in_features", in_features), ("hidden", hidden),
                            ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.n_classes, self.in_features, self.slope = n_classes, in_features, float(slope)
        bound1, bound2 = 1 / math.sqrt(in_features), 1 / math.sqrt(hidden)  # nn.Linear's initialisation
        self.w1 = nn.Parameter(torch.empty(n_classes, in_features, hidden).uniform_(-bound1, bound1))
        self.w2 = nn.Parameter(torch.empty(n_classes, hidden, out_features).uniform_(-bound2, bound2))
        self.register_buffer("mean", torch.zeros(in_features))
        self.register_buffer("spread", torch.ones(in_features))
        self.register_buffer("centres", torch.zeros(n_classes, out_features))
        self.register_buffer("scales", torch.ones(n_classes))

    def project(self, z: torch.Tensor) -> torch.Tensor:
        """``φ_j(z)`` for every classifier ``j``: ``(N, m, out)``."""
        _check_features(z, self.in_features, finite=False)
        z = (z - self.mean) / self.spread
        hidden = F.leaky_relu(torch.einsum("nd,mdh->nmh", z, self.w1), self.slope)
        return torch.einsum("nmh,mho->nmo", hidden, self.w2)

    def distances(self, z: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        """``||φ_j(z) - c_j||²``: ``(N, m)``, or ``(N,)`` for ``classes[i]`` per row."""
        d = (self.project(z) - self.centres).pow(2).sum(-1)
        return d if classes is None else d.gather(1, classes[:, None]).squeeze(1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``(N, m)`` log activations ``log g_j(z)`` (the logits of the defended recognizer)."""
        return -self.distances(z) / self.scales

    @torch.no_grad()
    def set_standardisation(self, z: torch.Tensor) -> None:
        self.mean.copy_(z.mean(0))
        self.spread.copy_(z.std(0).clamp_min(1e-6))

    @torch.no_grad()
    def set_centres(self, z: torch.Tensor, labels: torch.Tensor) -> None:
        """``c_j``: the mean of ``φ_j`` over identity ``j``'s faces; coordinates near 0 are pushed
        to ``±0.1`` (Ruff et al.: a coordinate at 0 is one that zero weights reach trivially)."""
        projected = self.project(z).gather(1, labels[:, None, None].expand(-1, 1, self.centres.shape[1])).squeeze(1)
        centres = torch.zeros_like(self.centres).index_add_(0, labels, projected)
        centres /= torch.bincount(labels, minlength=self.n_classes).clamp_min(1)[:, None].to(centres)
        small = centres.abs() < 0.1
        centres[small] = torch.where(centres[small] < 0, -0.1, 0.1).to(centres)
        self.centres.copy_(centres)

    @torch.no_grad()
    def set_scales(self, z: torch.Tensor, labels: torch.Tensor) -> None:
        """``s_j``: the mean of ``||φ_j(z) - c_j||²`` over identity ``j``'s faces."""
        d = self.distances(z, labels)
        total = torch.zeros(self.n_classes, dtype=d.dtype, device=d.device).index_add_(0, labels, d)
        self.scales.copy_((total / torch.bincount(labels, minlength=self.n_classes).to(d)).clamp_min(1e-12))


def one_class_loss(svdd: MultiSVDD, z: torch.Tensor, y: torch.Tensor, eta: float) -> torch.Tensor:
    """:class:`OneClass`'s objective on features ``z`` of identities ``y``: each face's squared
    distance to its own identity's centre, plus ``eta`` times the mean inverse squared distance of
    every face to the other identities' centres (0: pure Deep SVDD)."""
    if not eta:
        return svdd.distances(z, y).mean()
    d = svdd.distances(z)
    own = F.one_hot(y, svdd.n_classes).bool()
    return d[own].mean() + eta * (1 / (d[~own] + 1e-6)).mean()


class OneClass(Task):
    """The task of :func:`facedid_lib.core.train.fit` that trains the ``m`` classifiers, by Adam with
    weight decay: each face pulled to its own identity's centre (Deep SVDD's objective) and,
    with weight ``η > 0``, pushed away from every other identity's centre, the labelled-anomaly
    term of Deep SAD (Ruff et al., "Deep semi-supervised anomaly detection", ICLR 2020):

        ``(1/N) Σ_i ||φ_{y_i}(z_i) - c_{y_i}||² + η · mean_{i, j ≠ y_i} 1 / (||φ_j(z_i) - c_j||² + 10⁻⁶)``.

    ``η = 0`` is pure Deep SVDD: each classifier sees only its own identity's faces and, on
    thirty identities of twenty-one training faces each, tells them apart far worse than the
    recognizer did (chapter 7 measures both). The validation score is the accuracy of
    ``argmax_j g_j`` on held-out faces (with the scales ``s_j`` of the current weights).
    """

    score_name = "accuracy"

    def __init__(self, svdd: MultiSVDD, z_train, y_train, z_val, y_val, lr: float = 1e-3,
                 weight_decay: float = 1e-5, eta: float = 1.0):
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or eta < 0:
            raise ValueError(f"eta must be a non-negative number, got {eta!r}")
        self.svdd, self.lr, self.weight_decay, self.eta = svdd, lr, weight_decay, float(eta)
        self.z_train, self.y_train, self.z_val, self.y_val = z_train, y_train, z_val, y_val

    def networks(self) -> dict[str, nn.Module]:
        return {"svdd": self.svdd}

    def configure(self) -> None:
        self.optimizer = torch.optim.Adam(self.svdd.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def loss(self, batch) -> torch.Tensor:
        z, y = batch
        return one_class_loss(self.svdd, z, y, self.eta)

    def score(self) -> float:
        device = self.svdd.w1.device
        self.svdd.set_scales(self.z_train.to(device), self.y_train.to(device))
        predicted = self.svdd(self.z_val.to(device)).argmax(1)
        return float((predicted == self.y_val.to(device)).float().mean())


class MSVDD:
    """A fitted m-SVDD defence: the classifiers (on features), the calibration and the rule.

    ``svdd`` the trained :class:`MultiSVDD`; ``calibration`` the ``max_j log g_j`` of the
    calibration faces (clean faces of the defender's own); ``trunk`` (optional) the module from
    images to the features (:class:`Penultimate`), which :attr:`network` puts in front of the
    classifiers. ``history`` the training record.
    """

    def __init__(self, svdd: MultiSVDD, calibration: torch.Tensor, trunk: nn.Module | None = None,
                 history: History | None = None, name: str = "m-SVDD"):
        if calibration.ndim != 1 or len(calibration) == 0:
            raise ValueError("calibration must be the (N,) log activations of at least one calibration face")
        self.svdd, self.calibration = svdd.eval(), calibration.sort().values.cpu()
        self.trunk, self.history, self.name = trunk, history, name

    @property
    def n_classes(self) -> int:
        return self.svdd.n_classes

    # --- the rule ------------------------------------------------------------------------------
    def log_threshold(self, a: float = 1.0) -> float:
        """``log T(a)``: the ``(1 - a)``-quantile of the calibration faces' ``max_j log g_j`` (the
        lower interpolation: exactly ``ceil(a n)`` of the ``n`` calibration faces keep ``g >= T``)."""
        a = _check_a(a)
        n = len(self.calibration)
        return float(self.calibration[n - max(1, math.ceil(a * n - 1e-9))])

    def threshold(self, a: float = 1.0) -> float:
        """``T(a)``, the minimum activation at defence parameter ``a`` (:meth:`log_threshold`)."""
        return math.exp(self.log_threshold(a))

    def _floor(self, a, T) -> float:
        if T is not None and a is not None:
            raise ValueError("give a or T, not both")
        return math.log(_check_threshold(T)) if T is not None else self.log_threshold(1.0 if a is None else a)

    @torch.no_grad()
    def activations(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(N, m)`` activations ``g_j`` in [0, 1] (0 where ``exp`` underflows) of images (through
        :attr:`network`) or of features."""
        return self._scores(inputs).exp()

    def log_activations(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(N, m)`` log activations ``log g_j`` of images (through :attr:`network`) or of features."""
        return self._scores(inputs)

    def _scores(self, inputs, batch_size: int = 64):
        model = self.network if self.trunk is not None and inputs.ndim == 4 else self.svdd
        device = config.module_device(model, inputs.device)
        model.eval()
        with torch.no_grad():
            return torch.cat([model(inputs[i:i + batch_size].to(device)).cpu()
                              for i in range(0, max(len(inputs), 1), batch_size)])

    def rejects(self, inputs: torch.Tensor, a: float | None = None, T: float | None = None) -> torch.Tensor:
        """``(N,)`` bool: ``g_j < T`` for all ``m`` classifiers (class m + 1); ``T`` given, or ``T(a)``
        (default ``a = 1``)."""
        floor = self._floor(a, T)
        return self._scores(inputs).amax(1) < floor

    def classify(self, inputs: torch.Tensor, a: float | None = None, T: float | None = None) -> torch.Tensor:
        """``(N,)`` labels ``argmax_j g_j``, :data:`facedid_lib.metrics.REJECT` where the rule rejects
        (only when ``a`` or ``T`` is given; without them, the plain argmax)."""
        from facedid_lib.metrics import REJECT

        scores = self._scores(inputs)
        labels = scores.argmax(1)
        if a is None and T is None:
            return labels
        return labels.masked_fill(scores.amax(1) < self._floor(a, T), REJECT)

    # --- as a recognizer -----------------------------------------------------------------------
    @property
    def network(self) -> nn.Module:
        """``images -> (N, m)`` log activations: the trunk and the classifiers, one differentiable
        network (what the attacks attack)."""
        if self.trunk is None:
            raise ValueError("this defence was fitted on features: give a trunk (images -> features)")
        return DefendedNetwork(self.trunk, self.svdd)

    def defence(self, a: float | None = None, T: float | None = None):
        """``images -> (N,) bool``, the rule at ``T`` or ``T(a)``, for :class:`facedid_lib.recognize.Defended`."""
        floor = self._floor(a, T)

        def rejected(images: torch.Tensor) -> torch.Tensor:
            return self._scores(images).amax(1) < floor

        return rejected

    def recognizer(self, a: float | None = None, T: float | None = None, name: str | None = None,
                   image_size: int | None = None):
        """The defended recognizer (:class:`facedid_lib.recognize.Defended`): the m-SVDD's argmax,
        ``REJECT`` where every activation is below ``T`` (or ``T(a)``, default ``a = 1``)."""
        from facedid_lib.recognize.protocol import Defended, Recognizer

        base = Recognizer(self.network, name or self.name, n_classes=self.n_classes, image_size=image_size)
        return Defended(base, self.defence(a, T), name=name or self.name)

    def __repr__(self) -> str:
        return (f"MSVDD({self.name!r}, m={self.n_classes}, features={self.svdd.in_features}, "
                f"calibration faces={len(self.calibration)})")


class DefendedNetwork(nn.Module):
    """``images -> (N, m)`` log activations ``svdd(trunk(images))``: a defence's trunk and classifiers
    as one differentiable network (:attr:`MSVDD.network`; the end-to-end defence's cached module)."""

    def __init__(self, trunk: nn.Module, svdd: MultiSVDD):
        super().__init__()
        self.trunk, self.svdd = trunk, svdd

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.svdd(self.trunk(images))


class Penultimate(nn.Module):
    """The features a recognizer's last layer reads: ``images -> (N, D)``.

    Model A (:class:`~facedid_lib.recognize.recognizers.ModelA`): its 512 hidden units (after the
    ReLU; dropout is off in eval mode), on images of any size (resized to its input size, as
    :class:`~facedid_lib.recognize.recognizers.Resized`). Model B
    (:class:`~facedid_lib.recognize.recognizers.ModelB`): the 128-D dlib descriptor. Any other
    model: its ``embed`` method. Batch norm's statistics and dropout stay as in eval mode; chapter
    7's defence trains only the classifiers on top, the end-to-end one
    (:mod:`facedid_lib.defences.svdd_end_to_end`) trains a copy of the weights with them.
    """

    def __init__(self, model: nn.Module, image_size: int | None = None):
        super().__init__()
        from facedid_lib.recognize.recognizers import ModelA

        if isinstance(model, ModelA):
            image_size = model.image_size if image_size is None else image_size
            self.parts = nn.Sequential(model.features, *list(model.classifier)[:-1])
            self.out_features = model.classifier[-1].in_features
        elif callable(getattr(model, "embed", None)):
            self.parts = None
            self.out_features = getattr(model, "out_features", None) or model.head.net[0].in_features
        else:
            raise TypeError(f"model must be Model A or have an embed method, got {type(model).__name__}")
        self.model, self.image_size = model, image_size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        from facedid_lib.core.ops import resize

        if self.parts is not None:
            return self.parts(resize(images, self.image_size))
        return self.model.embed(images)

    def train(self, mode: bool = True):
        super().train(mode)
        self.model.eval()  # frozen: batch norm's statistics and dropout as in eval mode
        return self


def fit(z_train: torch.Tensor, y_train: torch.Tensor, z_val: torch.Tensor, y_val: torch.Tensor,
        z_calibration: torch.Tensor | None = None, *, hidden: int = 128, out_features: int = 32,
        epochs: int = 40, patience: int = 15, lr: float = 1e-3, weight_decay: float = 1e-5, eta: float = 1.0,
        batch_size: int = 32, seed: int = 0, device=None, progress: bool = True, trunk: nn.Module | None = None,
        name: str = "m-SVDD") -> MSVDD:
    """Fit ``m`` one-class classifiers on features (no cache; :func:`defend` caches).

    ``z_train, y_train``: the training faces' ``(N, D)`` features and ``(N,)`` identities (every
    identity ``0 .. m-1`` with at least :data:`MIN_FACES` faces); ``z_val, y_val``: held-out faces
    for early stopping; ``z_calibration``: the faces ``T(a)`` is read from (default ``z_val``);
    ``eta``: the weight of the other identities' faces (:class:`OneClass`; 0: pure Deep SVDD).
    """
    _check_features(z_train, name="z_train")
    _check_features(z_val, z_train.shape[1], name="z_val")
    z_calibration = z_val if z_calibration is None else _check_features(z_calibration, z_train.shape[1],
                                                                        name="z_calibration")
    for z, y, name_y in ((z_train, y_train, "y_train"), (z_val, y_val, "y_val")):
        y = torch.as_tensor(y)
        if y.shape != (len(z),) or y.is_floating_point() or y.dtype == torch.bool or bool((y < 0).any()):
            raise ValueError(f"{name_y} must be ({len(z)},) non-negative integer labels, "
                             f"got {y.dtype} {tuple(y.shape)}")
    y_train, y_val = torch.as_tensor(y_train), torch.as_tensor(y_val)
    counts = torch.bincount(y_train)
    if bool((counts < MIN_FACES).any()):
        few = (counts < MIN_FACES).nonzero().squeeze(1).tolist()
        raise ValueError(f"y_train: every identity needs at least {MIN_FACES} training faces for its one-class "
                         f"classifier; identities {few[:10]} have fewer (counts {counts[few[:10]].tolist()})")
    if int(y_val.max()) >= len(counts):
        raise ValueError(f"y_val has identities the training faces do not have (max {int(y_val.max())})")
    device = config.resolve_device(device)
    config.seed_everything(seed)
    svdd = MultiSVDD(len(counts), z_train.shape[1], hidden, out_features).to(device)
    svdd.set_standardisation(z_train.to(device))
    svdd.set_centres(z_train.to(device), y_train.to(device))
    task = OneClass(svdd, z_train, y_train, z_val, y_val, lr=lr, weight_decay=weight_decay, eta=eta)
    history = fit_task(task, (z_train, y_train), epochs=epochs, batch_size=batch_size, patience=patience,
                       seed=seed, device=device, progress=progress, desc=f"{name} (one-class)")
    svdd.set_scales(z_train.to(device), y_train.to(device))
    with torch.no_grad():
        calibration = svdd(z_calibration.to(device)).amax(1)
    return MSVDD(svdd, calibration, trunk=trunk, history=history, name=name)


@dataclass(frozen=True)
class Recipe:
    """How the m-SVDD of a course recognizer is trained (one recipe for Model A and Model B)."""

    hidden: int = 128
    out_features: int = 32
    epochs: int = 40
    patience: int = 15
    lr: float = 1e-3
    weight_decay: float = 1e-5
    eta: float = 1.0
    batch_size: int = 32


@torch.no_grad()
def _features(trunk: nn.Module, images: torch.Tensor, device, batch_size: int = 32) -> torch.Tensor:
    trunk.eval().to(device)
    return torch.cat([trunk(images[i:i + batch_size].to(device)).cpu() for i in range(0, len(images), batch_size)])


def _fit(r: Recipe, splits, *, seed, device, progress, source, of, name: str | None = None) -> MSVDD:
    """The m-SVDD of the recognizer ``of`` (its result, or its zoo name), on its penultimate features (cached)."""
    from facedid_lib.recognize.recognizers import ModelA

    trained = zoo.trained(of, seed=seed, device=device, progress=progress, source=source) if isinstance(of, str) else of
    size = trained.recipe.image_size if isinstance(trained.model, ModelA) else None
    trunk = Penultimate(trained.model, size)
    z_train = _features(trunk, trained.train.images, device)
    z_val = _features(trunk, trained.val.images, device)
    n_classes = trained.train.n_classes
    name = name or f"{_MODEL_NAMES.get(type(trained.model).__name__, type(trained.model).__name__)} + m-SVDD"

    def build():
        config.seed_everything(seed)
        return MultiSVDD(n_classes, trunk.out_features, r.hidden, r.out_features)

    def train_svdd(svdd):
        defence = fit(z_train, trained.train.labels, z_val, trained.val.labels, **asdict(r), seed=seed,
                      device=device, progress=progress, name=name)
        svdd.load_state_dict(defence.svdd.state_dict())
        return defence.history.as_dict()

    # the features fix what the classifiers learn (they carry the recognizer's weights and the faces)
    features = hashlib.sha256(z_train.numpy().tobytes() + z_val.numpy().tobytes()).hexdigest()
    svdd, info = cache.trained("m-svdd", build, train_svdd, features, trained.train.labels.tolist(),
                               trained.val.labels.tolist(), asdict(r), seed)
    svdd.to(device).eval()
    with torch.no_grad():
        calibration = svdd(z_val.to(device)).amax(1)
    return MSVDD(svdd, calibration, trunk=trunk, history=History(**info), name=name)


SVDD = zoo.register(zoo.Spec(
    name="m-svdd",
    about="The m-SVDD defence of Mygdalis, Tefas and Pitas (2020): m bias-free Deep SVDD classifiers (Ruff et "
          "al. 2018), one per identity, on the penultimate features of a trained course recognizer (the option "
          "``of``: \"model-a\", \"model-b\" or their result), trained on its training faces (other identities' "
          "faces pushed out with weight eta 1), early-stopped and calibrated on its validation faces: hidden "
          "128, output 32, Adam lr 1e-3, weight decay 1e-5, batch 32; quick: 40 epochs (patience 15); full: "
          "100 epochs (patience 30).",
    network=MultiSVDD, task=OneClass,
    recipes={"quick": Recipe(), "full": Recipe(epochs=100, patience=30)},
    split=None, fit=_fit), aliases=("svdd",))


def defend(trained, seed: int = 0, device=None, progress: bool = True, name: str | None = None,
           eta: float | None = None, recipe: Recipe | None = None) -> MSVDD:
    """The m-SVDD defence of a course recognizer (``recognizers.model_a()`` or ``model_b()``):
    ``zoo.trained("m-svdd", of=trained, ...)``.

    The classifiers train on the penultimate features (:class:`Penultimate`) of the recognizer's
    training faces, early-stop on its validation faces, and ``T(a)`` is read from the validation
    faces too (faces the one-class classifiers never trained on: on their own training faces
    the spheres are tighter than on any new face). The weights are cached under the recognizer's
    own key, the recipe and the seed; the features are recomputed (a second).
    The network (:attr:`MSVDD.network`) takes the chips the recognizer's ``on_chips()`` takes.
    ``eta``: the recipe's weight of the other identities' faces replaced (0: pure Deep SVDD);
    ``recipe``: a :class:`Recipe` (None: the profile's).
    """
    if eta is not None:
        recipe = dataclasses.replace(zoo.recipe("m-svdd") if recipe is None else recipe, eta=eta)
    return zoo.trained("m-svdd", recipe, seed=seed, device=device, progress=progress, of=trained, name=name)
