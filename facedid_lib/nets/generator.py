"""An identity- and attribute-conditioned face generator, trained once and cached: chapter 4.

The lecture's GAN DID: a generator ``x_p = G(x, t; θ_G)`` and a discriminator ``D(x_p; θ_D)``
trained against each other, with the adversarial loss of the AnonymousNet talk (Li and Lin,
CVPR workshops 2019, Eq. 1)

``L_adv = E[log D(x)] + E[log(1 - D(G(x)))]``,

D maximising it, G minimising it (we use the non-saturating form for G, ``-log D(G(x))``, as
Goodfellow et al. advise). Our generator is written in the manner of CIAGAN (Maximov, Elezi and
Leal-Taixé, CVPR 2020): its input is the face with its **inner region masked out**, a rendering
of the face's **landmarks** and a **condition**; it fills the masked region and the output is
composited ``G * m + x * (1 - m)``, so hair, background and pose stay.

What we chose where the sources are silent or where a CPU forces it:

- **The mask** is the filled convex hull of dlib's 68 landmarks (brows to chin, cheek to cheek)
  of the face itself (:func:`inner_mask`); the **landmark map** renders only the points that fix
  the pose: jaw outline, nose and eyes (:data:`POSE_POINTS`). The mouth and brows are left out, so
  that the expression is the condition's to set (CIAGAN renders more points and keeps the source's
  expression).
- **One network, two conditions.** The condition is a one-hot **target identity** (CIAGAN) beside
  a vector of binary **attributes** (AnonymousNet's stage III, ``attributes.celeba.ATTRIBUTES``). The
  same generator is CIAGAN when the attributes are the source face's own, and AnonymousNet's
  generator when they come from the privacy-preserving selection. Training one network instead of
  two halves the CPU time of the quick profile.
- **The identity term** (CIAGAN) is a frozen identity classifier of the training identities, the
  *critic*: Model A's architecture trained on the generator's training faces; G minimises its
  cross-entropy towards the target. **The attribute term** (StarGAN, Choi et al. CVPR 2018) is an
  attribute head on D, trained on real faces with their stage-I attributes; G minimises its binary
  cross-entropy towards the condition's attributes.
- **A reconstruction term** stabilises training on a CPU in a few epochs: in half of every batch the
  condition is the face's own identity and attributes, and G must give the face back
  (``||G(x, c_x) - x||_1`` on the masked region, weight ``rec_weight``), as StarGAN's
  cycle term does; in the other half the identity is a random other one and the attributes are
  random.

Training faces: the identities **outside** the paper's 30 x 30 selection (chapter 3's split), so
the generator has never seen the people it de-identifies; the targets are those identities.

Example
-------
>>> from facedid_lib.core import zoo
>>> # minutes of training on a first run (then the cache), so not run here
>>> gan = zoo.trained("gan", progress=False)                              # doctest: +SKIP
>>> gan.generator.size, gan.n_identities                                  # doctest: +SKIP
(64, 47)
"""

from __future__ import annotations

import inspect
import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from facedid_lib.core import cache, config, zoo
from facedid_lib.core.checks import check_images
from facedid_lib.core.ops import resize
from facedid_lib.core.train import History, Task, fit, fit_classifier
from facedid_lib.data import facesets as data
from facedid_lib.data.splits import chapter_splits, splits_key

__all__ = ["POSE_POINTS", "inner_mask", "landmark_map", "ConditionalInpainter", "Discriminator",
           "AdversarialTraining", "GANRecipe", "GAN", "TrainedGAN", "gan", "generator_inputs"]

#: The landmarks rendered for the generator (dlib's 68-point order): jaw 0-16, nose 27-35, eyes 36-47.
POSE_POINTS = tuple(range(0, 17)) + tuple(range(27, 48))


def _points(points, n: int) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 3 or points.shape[1:] != (68, 2) or len(points) != n:
        raise ValueError(f"points must have shape ({n}, 68, 2) (dlib's 68 landmarks), got {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError("points must be finite")
    return points


def inner_mask(points, size: int, chip_size: int, device=None) -> torch.Tensor:
    """The region the generator fills: the convex hull of each face's 68 landmarks, ``(N, 1, size, size)``.

    Parameters
    ----------
    points : ``(N, 68, 2)`` landmarks in the pixel coordinates of chips of ``chip_size`` pixels
        (:func:`facedid_lib.attributes.expression.landmarks68`).
    size : the side of the mask (the generator's, or the chip's for compositing).
    chip_size : the side of the chips the landmarks were found on.
    device : where the mask is made (None: the library default).

    Returns
    -------
    float tensor of 0 and 1 (1: masked, to be generated).
    """
    points = _points(points, len(points))
    scale = size / chip_size
    out = np.zeros((len(points), size, size), np.uint8)
    for i, p in enumerate(points):
        hull = cv2.convexHull(np.round((p + 0.5) * scale - 0.5).astype(np.int32))
        cv2.fillConvexPoly(out[i], hull, 1)
    return torch.from_numpy(out).float()[:, None].to(config.resolve_device(device))


def landmark_map(points, size: int, chip_size: int, device=None) -> torch.Tensor:
    """The pose landmarks (:data:`POSE_POINTS`) drawn as dots of one pixel's radius, ``(N, 1, size, size)``."""
    points = _points(points, len(points))
    scale = size / chip_size
    radius = max(1, round(size / 64))
    out = np.zeros((len(points), size, size), np.uint8)
    for i, p in enumerate(points[:, POSE_POINTS]):
        for x, y in np.round((p + 0.5) * scale - 0.5).astype(int):
            cv2.circle(out[i], (int(x), int(y)), radius, 1, -1)
    return torch.from_numpy(out).float()[:, None].to(config.resolve_device(device))


def _block(c_in: int, c_out: int, norm: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, 4, 2, 1)]
    if norm:
        layers.append(nn.BatchNorm2d(c_out))
    return nn.Sequential(*layers, nn.LeakyReLU(0.2))


class ConditionalInpainter(nn.Module):
    """``G(x, m, l, c)``: fills the masked region ``m`` of face ``x`` given landmarks ``l`` and condition ``c``.

    A U-Net: ``log2(size / 4)`` blocks of 4 x 4 convolutions of stride 2 (batch norm, LeakyReLU 0.2)
    take the masked face, the mask and the landmark map (5 channels) down to 4 x 4; the condition
    (one-hot identity of ``n_identities`` and ``n_attributes`` numbers in [0, 1]) goes through a
    linear layer and is added at 4 x 4 and concatenated, broadcast, at every level of the decoder,
    whose transposed convolutions take the encoder's features at the same level (skip connections).
    (Nearest-neighbour upsampling with a 3 x 3 convolution avoids the faint checkerboard of transposed
    convolutions, but on a CPU it made an epoch 1.7 times slower for no better faces in the quick
    profile.)
    A sigmoid gives the pixels; :meth:`forward` returns the composite ``G * m + x * (1 - m)``.

    Shapes: ``x`` ``(N, 3, S, S)`` in [0, 1], ``mask`` and ``landmarks`` ``(N, 1, S, S)``,
    ``condition`` ``(N, n_identities + n_attributes)``; ``S = size``.
    """

    def __init__(self, size: int = 64, n_identities: int = 47, n_attributes: int = 4, width: int = 32,
                 condition_width: int = 16):
        super().__init__()
        levels = int(math.log2(size / 4))
        if size < 16 or 4 * 2 ** levels != size:
            raise ValueError(f"size must be a power of two >= 16, got {size}")
        if n_identities < 2:
            raise ValueError(f"n_identities must be at least 2, got {n_identities}")
        self.size, self.n_identities, self.n_attributes = size, n_identities, n_attributes
        channels = [min(width * 2 ** i, 8 * width) for i in range(levels)]
        self.down = nn.ModuleList(_block(c_in, c_out, norm=i > 0)
                                  for i, (c_in, c_out) in enumerate(zip([5, *channels[:-1]], channels)))
        n_condition = n_identities + n_attributes
        self.embed = nn.Linear(n_condition, channels[-1] * 16)
        self.condition_maps = nn.Linear(n_condition, condition_width)
        self.up = nn.ModuleList()
        for i in reversed(range(levels)):
            c_in = channels[i] * (1 if i == levels - 1 else 2) + condition_width
            c_out = channels[i - 1] if i > 0 else width
            self.up.append(nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.ReLU()))
        self.out = nn.Conv2d(width + 5, 3, 3, padding=1)

    def raw(self, x, mask, landmarks, condition) -> torch.Tensor:
        """The generated pixels everywhere (before the composite)."""
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            raise ValueError(f"the generator takes {self.size} x {self.size} faces, got {tuple(x.shape[-2:])}")
        if condition.shape != (len(x), self.n_identities + self.n_attributes):
            raise ValueError(f"condition must have shape ({len(x)}, {self.n_identities + self.n_attributes}), "
                             f"got {tuple(condition.shape)}")
        inputs = torch.cat([x * (1 - mask), mask, landmarks], 1)
        skips, h = [], inputs
        for block in self.down:
            h = block(h)
            skips.append(h)
        h = h + self.embed(condition).view_as(h)
        c = self.condition_maps(condition)[:, :, None, None]
        for k, block in enumerate(self.up):
            if k > 0:
                h = torch.cat([h, skips[-1 - k]], 1)
            h = block(torch.cat([h, c.expand(-1, -1, *h.shape[-2:])], 1))
        return torch.sigmoid(self.out(torch.cat([h, inputs], 1)))

    def forward(self, x, mask, landmarks, condition) -> torch.Tensor:
        return self.raw(x, mask, landmarks, condition) * mask + x * (1 - mask)


class Discriminator(nn.Module):
    """``D``: a real/fake score per face and ``n_attributes`` attribute logits (StarGAN's two heads).

    Blocks of 4 x 4 convolutions of stride 2 (LeakyReLU 0.2, no normalisation) down to 4 x 4, then a
    linear real/fake logit and a linear attribute head. Input ``(N, 3, size, size)``.
    """

    def __init__(self, size: int = 64, n_attributes: int = 4, width: int = 32):
        super().__init__()
        levels = int(math.log2(size / 4))
        channels = [min(width * 2 ** i, 8 * width) for i in range(levels)]
        self.features = nn.Sequential(*[_block(c_in, c_out, norm=False)
                                        for c_in, c_out in zip([3, *channels[:-1]], channels)], nn.Flatten())
        self.real = nn.Linear(channels[-1] * 16, 1)
        self.attributes = nn.Linear(channels[-1] * 16, n_attributes)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(images)
        return self.real(h)[:, 0], self.attributes(h)


def condition(identities: torch.Tensor, attributes: torch.Tensor, n_identities: int) -> torch.Tensor:
    """The generator's condition: one-hot ``identities`` (N,) beside ``attributes`` (N, A) as floats."""
    return torch.cat([F.one_hot(identities.long(), n_identities).float(), attributes.float()], 1)


class AdversarialTraining(Task):
    """The generator's :class:`~facedid_lib.core.train.Task`: G and D in turn on each mini-batch.

    Batch: ``(x, mask, landmarks, identity, attributes)``. Half of the faces keep their own
    condition (reconstruction), the others get a random other identity and random attributes.

    - D: ``BCE(D(x), 1) + BCE(D(G(x, c)), 0) + BCE_attr(D_attr(x), a_x)``;
    - G: ``BCE(D(G), 1) + id_weight CE(critic(G), t) + attr_weight BCE_attr(D_attr(G), a_c)
      + rec_weight |G - x|_1`` (the identity term on the swapped half, the reconstruction on the kept
      half, over the masked pixels).

    The validation score is the mean absolute error of the reconstruction over the masked pixels of
    the validation faces given their own condition (lower is better): it measures how well G has
    learnt faces; :meth:`target_rate` measures the identity term.
    """

    maximize = False
    score_name = "val inpainting L1"

    def __init__(self, generator: ConditionalInpainter, discriminator: Discriminator, critic: nn.Module,
                 val: tuple, lr: float = 2e-4, id_weight: float = 1.0, attr_weight: float = 1.0,
                 rec_weight: float = 10.0):
        self.G, self.D, self.critic, self.val = generator, discriminator, critic, val
        self.lr, self.id_weight, self.attr_weight, self.rec_weight = lr, id_weight, attr_weight, rec_weight
        critic.requires_grad_(False)
        g = torch.Generator().manual_seed(1)
        n = len(val[0])
        self.val_targets = (val[3] + torch.randint(1, generator.n_identities, (n,), generator=g)) % generator.n_identities

    def networks(self) -> dict:
        return {"generator": self.G, "discriminator": self.D}

    def configure(self) -> None:
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=self.lr, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=self.lr, betas=(0.5, 0.999))
        self.critic.to(config.module_device(self.G, torch.device("cpu"))).eval()

    def optimizers(self):
        return [self.opt_g, self.opt_d]

    def conditions(self, identity, attributes):
        """Own condition for the first half, a random other identity and random attributes for the rest."""
        n, k = len(identity), self.G.n_identities
        swap = torch.arange(n, device=identity.device) >= n // 2
        other = (identity + torch.randint(1, k, (n,), device=identity.device)) % k
        target = torch.where(swap, other, identity)
        random_attributes = torch.randint(0, 2, attributes.shape, device=attributes.device).float()
        wanted = torch.where(swap[:, None], random_attributes, attributes.float())
        return swap, target, wanted

    def step(self, batch) -> float:
        x, mask, landmarks, identity, attributes = batch
        swap, target, wanted = self.conditions(identity, attributes)
        c = condition(target, wanted, self.G.n_identities)
        fake = self.G(x, mask, landmarks, c)
        # D
        real_logit, real_attr = self.D(x)
        fake_logit, _ = self.D(fake.detach())
        loss_d = (F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
                  + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
                  + F.binary_cross_entropy_with_logits(real_attr, attributes.float()))
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        # G
        fake_logit, fake_attr = self.D(fake)
        loss_g = (F.binary_cross_entropy_with_logits(fake_logit, torch.ones_like(fake_logit))
                  + self.attr_weight * F.binary_cross_entropy_with_logits(fake_attr, wanted))
        if swap.any():
            loss_g = loss_g + self.id_weight * F.cross_entropy(self.critic(fake[swap]), target[swap])
        if (~swap).any():
            kept = ~swap
            pixels = mask[kept].sum().clamp_min(1) * 3
            loss_g = loss_g + self.rec_weight * ((fake[kept] - x[kept]).abs() * mask[kept]).sum() / pixels
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return float(loss_g.detach())

    def score(self) -> float:
        device = config.module_device(self.G, torch.device("cpu"))
        error = pixels = 0.0
        for i in range(0, len(self.val[0]), 64):
            x, mask, landmarks, identity, attributes = (t[i:i + 64].to(device) for t in self.val)
            own = self.G(x, mask, landmarks, condition(identity, attributes, self.G.n_identities))
            error += float(((own - x).abs() * mask).sum())
            pixels += float(mask.sum()) * 3
        return error / pixels

    @torch.no_grad()
    def target_rate(self) -> float:
        """The share of validation faces, given a fixed random other identity, that the critic names as it."""
        device = config.module_device(self.G, torch.device("cpu"))
        hits = 0
        for i in range(0, len(self.val[0]), 64):
            x, mask, landmarks, _, attributes = (t[i:i + 64].to(device) for t in self.val)
            target = self.val_targets[i:i + 64].to(device)
            fake = self.G(x, mask, landmarks, condition(target, attributes, self.G.n_identities))
            hits += int((self.critic(fake).argmax(1) == target).sum())
        return hits / len(self.val[0])


@dataclass(frozen=True)
class GANRecipe:
    """How the generator and its critic are trained (sizes and epochs follow the profile)."""

    size: int
    width: int
    epochs: int
    critic_epochs: int
    lr: float = 3e-4
    batch_size: int = 32
    id_weight: float = 0.5
    attr_weight: float = 1.0
    rec_weight: float = 20.0
    critic_lr: float = 1e-3


def generator_inputs(chips: torch.Tensor, size: int, points=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x, mask, landmarks)`` at ``size`` for aligned chips: the generator's inputs, on the chips' device.

    ``points``: the chips' 68 landmarks when already known (else found with dlib,
    :func:`facedid_lib.attributes.expression.landmarks68`).
    """
    from facedid_lib.attributes.expression import landmarks68

    check_images(chips)
    if points is None:
        points = landmarks68(chips)
    chip_size = chips.shape[-1]
    return (resize(chips, size), inner_mask(points, size, chip_size, chips.device),
            landmark_map(points, size, chip_size, chips.device))


@dataclass
class TrainedGAN:
    """The trained generator with its critic, training faces and what stage II needs.

    ``identities`` are the CelebA identities of the generator's one-hot positions; ``attributes``
    ``(N, A)`` and ``identity`` ``(N,)`` (positions) describe the training faces: the data set whose
    distributions the privacy-preserving attribute selection compares (``methods.gan.closeness``).
    ``target_rate``: after training, the share of validation faces given a random other identity
    that the critic names as that identity (chance: ``1 / n_identities``).
    """

    generator: ConditionalInpainter
    critic: nn.Module
    history: History
    critic_history: History
    train: data.FaceSet
    val: data.FaceSet
    identities: list
    attributes: torch.Tensor
    identity: torch.Tensor
    recipe: GANRecipe
    target_rate: float

    @property
    def n_identities(self) -> int:
        return self.generator.n_identities


def _described(faces: data.FaceSet, seed: int, source, progress: bool = False) -> dict:
    """Stage-I attributes and 68 landmarks of ``faces``, measured on their 192-pixel chips (cached)."""
    from tqdm.auto import tqdm

    from facedid_lib.attributes.celeba import predict_attributes
    from facedid_lib.attributes.expression import landmarks68

    path = cache.path_for("gan-described", faces.files, seed, str(source))
    n = len(faces.files)
    with cache.lock(path):
        entry = cache.load(path, check=lambda e: cache.mismatch(e, {"attributes": (n, None), "points": (n, 68, 2)}))
        if entry is None:
            big = data.at_size(faces, 192, seed, source)
            parts = [big[i:i + 128] for i in range(0, len(big), 128)]
            points = [landmarks68(part) for part in tqdm(parts, desc="landmarks and attributes", disable=not progress)]
            entry = {"attributes": torch.cat([predict_attributes(part, p).cpu() for part, p in zip(parts, points)]),
                     "points": torch.from_numpy(np.concatenate(points))}
            cache.save(entry, path)
    return entry


def _fit(r: GANRecipe, splits, *, seed, device, progress, source) -> TrainedGAN:
    """The critic (trained first, frozen), then G and D through :class:`AdversarialTraining`; each cached."""
    from facedid_lib.recognize.recognizers import ModelA

    train, val, _ = splits
    identities = sorted(set(train.identities.tolist()))
    position = {ident: k for k, ident in enumerate(identities)}
    if set(val.identities.tolist()) - set(identities):
        raise ValueError("every validation identity must have training faces")
    described = [_described(part, seed, source, progress) for part in (train, val)]
    index = [torch.tensor([position[i] for i in part.identities.tolist()]) for part in (train, val)]
    inputs = [(part.images, inner_mask(d["points"].numpy(), r.size, 192, "cpu"),
               landmark_map(d["points"].numpy(), r.size, 192, "cpu"), idx, d["attributes"].float())
              for part, d, idx in zip((train, val), described, index)]
    faces_key = splits_key(train, val)
    critic_key = (r.size, r.critic_epochs, r.critic_lr, r.batch_size, seed, faces_key)

    def build_critic():
        config.seed_everything(seed)
        return ModelA(len(identities), r.size)

    def fit_critic(model):
        return fit_classifier(model, train.images, index[0], val.images, index[1], epochs=r.critic_epochs,
                              lr=r.critic_lr, batch_size=r.batch_size, patience=r.critic_epochs, seed=seed,
                              device=device, progress=progress, desc="critic").as_dict()

    critic, critic_history = cache.trained("gan-critic", build_critic, fit_critic, *critic_key)
    critic.to(device).eval()
    n_attributes = inputs[0][4].shape[1]

    def build():
        config.seed_everything(seed)
        return nn.ModuleDict({"generator": ConditionalInpainter(r.size, len(identities), n_attributes, r.width),
                              "discriminator": Discriminator(r.size, n_attributes, r.width)})

    def fit_gan(pair):
        task = AdversarialTraining(pair["generator"], pair["discriminator"], critic, inputs[1], lr=r.lr,
                                   id_weight=r.id_weight, attr_weight=r.attr_weight, rec_weight=r.rec_weight)
        history = fit(task, inputs[0], epochs=r.epochs, batch_size=r.batch_size, patience=r.epochs, seed=seed,
                      device=device, progress=progress, desc="generator")
        return {**history.as_dict(), "target_rate": task.target_rate()}

    # the task's code fixes the weights as much as the networks' definitions do
    task_code = cache.key(inspect.getsource(AdversarialTraining), inspect.getsource(condition))
    pair, info = cache.trained("gan", build, fit_gan, asdict(r), seed, faces_key, cache.definition(critic), task_code)
    history = {k: v for k, v in info.items() if k != "target_rate"}
    generator = pair["generator"].to(device).eval()
    return TrainedGAN(generator, critic, History(**history), History(**critic_history), train, val, identities,
                      inputs[0][4].bool(), index[0], r, info["target_rate"])


GAN = zoo.register(zoo.Spec(
    name="gan",
    about="Chapter 4's identity- and attribute-conditioned inpainting generator (CIAGAN, Maximov et al. CVPR 2020; "
          "AnonymousNet, Li and Lin, CVPR workshops 2019) with its discriminator and a frozen identity critic (Model "
          "A's CNN), trained adversarially with identity, attribute and reconstruction terms on the faces outside "
          "the paper selection; Adam lr 3e-4 (critic 1e-3), batch 32, id/attr/rec weights 0.5/1/20; quick: 64-pixel "
          "faces, width 32, 5 epochs of the GAN and 6 of the critic (a CPU, about 3 minutes; the GAN kept its 5th "
          "epoch of 6 in CI, and 5 give the same weights); full: 128 pixels, width 64, 60 epochs (a GPU).",
    network=ConditionalInpainter, task=AdversarialTraining,
    recipes={"quick": GANRecipe(size=64, width=32, epochs=5, critic_epochs=6),
             "full": GANRecipe(size=128, width=64, epochs=60, critic_epochs=60)},
    split=lambda r, seed, source: chapter_splits(r.size, seed, source), fit=_fit))


def gan(seed: int = 0, device=None, progress: bool = True, source=None, recipe: GANRecipe | None = None) -> TrainedGAN:
    """The chapter's generator and critic, trained on the faces outside the paper selection (or cached):
    ``zoo.trained("gan", ...)``.

    The critic (Model A's architecture, :class:`~facedid_lib.recognize.recognizers.ModelA`) is trained
    first on the same faces and frozen; then G and D train through the course's loop
    (:func:`facedid_lib.core.train.fit`, :class:`AdversarialTraining`). Both are cached with their
    definitions, the recipe, the data and the seed in the key.
    """
    return zoo.trained("gan", recipe, seed=seed, device=device, progress=progress, source=source)
