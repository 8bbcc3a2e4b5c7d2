"""Autoencoder face de-identification (lecture, section 3): reconstruction and attribute shifts.

**Plain reconstruction.** ``x' = D(E(x))`` with the autoencoder of
:mod:`facedid_lib.nets.autoencoder`; the reconstruction loses what the code cannot hold, and the
lecture's claim is that this loss alone lowers identification. The **shrunken code** goes further:
``x' = D(z̄ + (1 - s)(E(x) - z̄))``, with ``z̄`` the mean code of the training faces; ``s = 0`` is
the plain reconstruction, ``s = 1`` the same average face for everybody.

**Supervised attribute-preserving DID** (Nousi, Papadopoulos, Tefas and Pitas, Signal Processing:
Image Communication 2019). The encoder is fine-tuned, the decoder kept, with
``J(z_i, t_i) = ||E(x_i) - t_i||²`` towards targets made from the trained codes
``Z = [z_1 ... z_N]``:

- ``s_i = (1 - a) z_i + a P_i Z``: ``P_i`` (the attraction matrix) averages the codes of the faces
  that share the attribute to keep, ``P_ij = 1 / |D_i|`` for ``x_j ∈ D_i``;
- ``t_i = (1 + β) s_i - a Q_i S``: ``Q_i`` (the repulsion matrix) averages the ``s_j`` of the same
  person's faces, ``Q_ij = 1 / |U_i|`` for ``x_j ∈ U_i``, and pushes the target away from them.

Several attributes shift the codes one after the other, in a **shift order** (the lecture's
table: Ethn+Mood+Mth...): ``s^(k) = (1 - a) s^(k-1) + a P^(k) S^(k-1)``, ``s^(0) = z``, then the
repulsion. Our choices where the source is silent: ``D_i`` holds every training face with the same
value of the attribute (the person's own faces included), ``U_i`` every face of the same person
(``x_i`` included); ``P_i Z`` is computed as a group mean, which is the same product without the
``N x N`` matrix; the attributes are gender (CelebA's, per identity), mood (smiling) and mouth
(open or closed), the last two measured from dlib's 68 landmarks
(:mod:`facedid_lib.attributes.expression`). We have no ethnicity model, so the lecture's orders with
"Ethn" become orders of gender, mood and mouth.
"""

from __future__ import annotations

import copy
import itertools

import torch
import torch.nn.functional as F

from facedid_lib.core import cache, config
from facedid_lib.nets import autoencoder as ae
from facedid_lib.core.params import Param
from facedid_lib.core.train import History, Task, fit
from facedid_lib.methods.registry import provider, register

#: The attributes an encoder can be taught to keep, in the names of the shift orders.
ATTRIBUTES = ("gender", "mood", "mouth")
#: Every shift order of one attribute or of all three.
SHIFT_ORDERS = ATTRIBUTES + tuple("+".join(p) for p in itertools.permutations(ATTRIBUTES))


@provider("autoencoder", "the chapter's trained autoencoder, models.autoencoder.autoencoder().model")
def _trained_autoencoder(faces, size: int, device, progress: bool, params: dict) -> ae.ConvAutoencoder:
    """The autoencoder of chapter 3, trained on the faces of ``faces`` outside the paper selection (cached)."""
    return ae.autoencoder(device=device, progress=progress, source=faces).model


@register("autoencoder", "autoencoder",
          Param("shrink", 0.0, "how far each code moves towards the mean code (0: plain reconstruction, "
                               "1: the average face)", low=0.0, high=1.0, step=0.05),
          needs=("autoencoder",))
def reconstruct(images: torch.Tensor, autoencoder: ae.ConvAutoencoder, shrink: float = 0.0) -> torch.Tensor:
    """Autoencoder reconstruction, from a code shrunk towards the mean code: ``D(z̄ + (1 - s)(E(x) - z̄))``.

    Chips of any size are resized to the autoencoder's and the result back to theirs.
    """
    model = ae.check_autoencoder(autoencoder)

    def run(net, x):
        z = net.encode(x)
        return net.decode(net.code_mean + (1 - shrink) * (z - net.code_mean))

    return ae.run_on_chips(model, images, run)


# ------------------------------------------------------------------------------------------------
# supervised attribute-preserving DID (Nousi et al. 2019)


def group_means(values: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """``M v``: each row replaced by the mean of the rows of its group (``M_ij = 1/|G_i|`` for ``j ∈ G_i``).

    ``values`` (N, D), ``groups`` (N,) integer group labels. This is the attraction product
    ``P Z`` (groups: attribute values) and the repulsion product ``Q S`` (groups: identities).
    """
    if groups.shape != values.shape[:1]:
        raise ValueError(f"groups must have shape ({values.shape[0]},), got {tuple(groups.shape)}")
    _, index = torch.unique(groups.to(values.device), return_inverse=True)
    sums = torch.zeros(int(index.max()) + 1, values.shape[1], dtype=values.dtype, device=values.device)
    sums.index_add_(0, index, values)
    counts = torch.bincount(index).to(values.dtype)
    return (sums / counts[:, None])[index]


def shift_targets(codes: torch.Tensor, attributes: list, identities: torch.Tensor, a: float,
                  beta: float) -> torch.Tensor:
    """Nousi et al.'s targets ``t = (1 + β) s - a Q S`` after the attraction shifts, in order.

    Parameters
    ----------
    codes : (N, D) codes ``z_i`` of the trained encoder.
    attributes : list of (N,) integer tensors, one per attribute to keep, in the shift order.
    identities : (N,) identity of each face (the repulsion groups).
    a, beta : the trade-off and the repulsion strength (``a = 0`` and ``β = 0``: ``t = z``).
    """
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"a must lie in [0, 1], got {a}")
    s = codes
    for groups in attributes:
        s = (1 - a) * s + a * group_means(s, groups)
    return (1 + beta) * s - a * group_means(s, identities)


class CodeRegression(Task):
    """Fine-tune an encoder towards fixed code targets: ``mean ||E(x_i) - t_i||²``; decoder untouched."""

    maximize = False
    score_name = "val code MSE"

    def __init__(self, model: ae.ConvAutoencoder, x_val: torch.Tensor, t_val: torch.Tensor, lr: float = 3e-4):
        self.model, self.x_val, self.t_val, self.lr = model, x_val, t_val, lr

    def networks(self) -> dict:
        return {"encoder": self.model.encoder}

    def configure(self) -> None:
        self.optimizer = torch.optim.Adam(self.model.encoder.parameters(), lr=self.lr)

    def loss(self, batch) -> torch.Tensor:
        x, t = batch
        return F.mse_loss(self.model.encode(x), t)

    def score(self) -> float:
        device = config.module_device(self.model, self.x_val.device)
        out = [F.mse_loss(self.model.encode(self.x_val[i:i + 128].to(device)), self.t_val[i:i + 128].to(device),
                          reduction="sum") for i in range(0, len(self.x_val), 128)]
        return float(sum(out)) / self.t_val.numel()


def attribute_groups(faces, order: str, seed: int = 0, source=None) -> list:
    """The attribute values of ``faces`` for the shift ``order`` (``"gender+mood"``...): one (N,) tensor each.

    Gender is CelebA's per identity (:func:`facedid_lib.data.labels.genders`); mood (smiling) and mouth
    (open) are measured on the 192-pixel chips of the same files by
    :mod:`facedid_lib.attributes.expression` and cached.
    """
    from facedid_lib.data import facesets as data, labels
    from facedid_lib.attributes import expression

    names = check_order(order)
    values = {}
    if "gender" in names:
        values["gender"] = labels.genders(faces, folder=source)
    if {"mood", "mouth"} & set(names):
        path = cache.path_for("expression", faces.files, seed, str(source))
        n = len(faces.files)
        with cache.lock(path):
            entry = cache.load(path, check=lambda e: cache.mismatch(e, {"mood": (n,), "mouth": (n,)}))
            if entry is None:
                big = data.at_size(faces, 192, seed, source)
                marks = expression.SharedLandmarks()  # both from one run of the 68-point predictor
                entry = {"mood": marks.smiling(big).long().cpu(), "mouth": marks.mouth_open(big).long().cpu()}
                cache.save(entry, path)
        values.update(entry)
    return [values[name].to(torch.int64) for name in names]


def check_order(order: str) -> list[str]:
    """The attribute names of a shift order such as ``"mouth+mood+gender"``; a clear error otherwise."""
    if order not in SHIFT_ORDERS:
        raise ValueError(f"keep must be one of {SHIFT_ORDERS}, got {order!r}")
    return order.split("+")


def attribute_autoencoder(a: float = 0.5, beta: float = 0.5, keep: str = "gender", seed: int = 0, device=None,
                          progress: bool = True, source=None, epochs: int | None = None):
    """The chapter's autoencoder with its encoder fine-tuned by Nousi et al.'s attribute shift (cached).

    Returns ``(model, history)``; ``model.shift`` records ``(a, beta, keep)``. ``epochs`` (None: the
    profile's) are all run and the best epoch's encoder is kept: the quick profile runs 3, because each
    of chapter 3's seven fine-tunes kept its third epoch of five in CI (3 give the same weights in half
    the time); the full profile 60.
    """
    check_order(keep)
    base = ae.autoencoder(seed=seed, device=device, progress=progress, source=source)
    device = config.resolve_device(device)
    epochs = epochs or config.by_profile(quick=3, full=60)

    def build():
        return copy.deepcopy(base.model).cpu()

    def fine_tune(model):
        # the targets: computed only when the encoder is trained (a cached one needs none), one set
        # over the training and validation faces together (the same 47 people)
        both = [base.train, base.val]
        z = torch.cat([ae.encode_all(base.model, part.images) for part in both])
        attrs = [attribute_groups(part, keep, seed, source) for part in both]
        groups = [torch.cat([attrs[0][k], attrs[1][k]]) for k in range(len(attrs[0]))]
        identities = torch.cat([base.train.identities, base.val.identities])
        targets = shift_targets(z, groups, identities, a, beta).cpu()
        t_train, t_val = targets[:len(base.train)], targets[len(base.train):]
        history = fit(CodeRegression(model, base.val.images, t_val), (base.train.images, t_train), epochs=epochs,
                      batch_size=base.recipe.batch_size, patience=epochs, seed=seed, device=device,
                      progress=progress, desc=f"attribute shift ({keep}, a={a:g}, β={beta:g})")
        return history.as_dict()

    # only the encoder is stored: the decoder is the base autoencoder's
    model, history = cache.trained("attribute-ae", build, fine_tune, a, beta, keep, seed, epochs,
                                   [float(v) for v in base.history.val_score], part="encoder")
    model.to(device).eval()
    model.shift = (a, beta, keep)
    return model, History(**history)


@provider("attribute_autoencoder", "an autoencoder whose encoder was fine-tuned to shift identity and keep "
                                   "attributes, methods.autoencoder.attribute_autoencoder(a, beta, keep)",
          trained_on=("a", "beta", "keep"))
def _attribute_autoencoder(faces, size: int, device, progress: bool, params: dict) -> ae.ConvAutoencoder:
    """Chapter 3's attribute-shifting autoencoder for the method's ``a``, ``beta`` and ``keep`` (cached)."""
    model, _ = attribute_autoencoder(params["a"], params["beta"], params["keep"], device=device,
                                     progress=progress, source=faces)
    return model


@register("attribute-preserving", "autoencoder",
          Param("a", 0.5, "attraction to the faces that share the kept attributes (Nousi et al.'s a)",
                low=0.0, high=1.0, step=0.25),
          Param("beta", 0.5, "repulsion from the person's own faces (Nousi et al.'s β)", low=0.0, high=2.0, step=0.5),
          Param("keep", "gender", "the attributes to keep, in their shift order", choices=SHIFT_ORDERS),
          needs=("attribute_autoencoder",))
def attribute_preserving(images: torch.Tensor, attribute_autoencoder: ae.ConvAutoencoder, a: float = 0.5,
                         beta: float = 0.5, keep: str = "gender") -> torch.Tensor:
    """Supervised attribute-preserving DID (Nousi et al. 2019): the fine-tuned encoder, the trained decoder.

    ``attribute_autoencoder`` must have been fine-tuned with the same ``a``, ``beta`` and ``keep``
    (:func:`attribute_autoencoder`).
    """
    model = ae.check_autoencoder(attribute_autoencoder, "attribute_autoencoder")
    if getattr(model, "shift", None) != (a, beta, keep):
        raise ValueError(f"attribute_autoencoder was fine-tuned with (a, beta, keep) = {getattr(model, 'shift', None)}, "
                         f"not {(a, beta, keep)}: make it with methods.autoencoder.attribute_autoencoder(a, beta, keep)")
    return ae.run_on_chips(model, images, lambda net, x: net(x))
