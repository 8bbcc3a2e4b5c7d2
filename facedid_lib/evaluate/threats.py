"""Threat models: who tries to recognise a protected face, and what that attacker knows.

A protection holds against the attackers it was measured against, and no further. Each chapter
measures its methods against the course's recognizers; this module states the attackers as
objects, so that every method can be put under the same ones (chapter 8). A :class:`Threat` turns
a :class:`Protection` (a method at one setting) into the recognizers of one attacker:

- :class:`Attacked` (``"attacked"``): the recognizer the protection was built against (an
  adversarial method's Model A or B); a method built against none has no such row.
- :class:`Unseen` (``"unseen"``): recognizers the protection never saw, on a clean gallery: SFace
  and the compiled dlib black box, which share nothing with Model A and B.
- :class:`Parrot` (``"parrot"``): the attacker protects the gallery the same way and matches
  protected faces against protected faces (Newton, Sweeney and Malin 2005: "parrot recognition").
- :class:`Adaptive` (``"adaptive"``): the attacker trains on protected photos of the same people
  (McPherson, Shokri and Shmatikov 2016, "Defeating image obfuscation with deep learning";
  Radiya-Dixit, Hong, Carlini and Tramèr, ICLR 2022): a new classifier head on SFace's embedding of
  the protected gallery.
- :class:`Averaging` (``"averaging"``): a randomised protection released several times (the frames
  of a video, a photo posted twice): the copies, each protected with another seed, are averaged
  before recognition; ``x̄ = (1/n) Σ_s P_s(x)`` cancels zero-mean noise as ``1/√n``.
- :class:`DefendedThreat` (``"defended"``): the recognizer an adversarial protection attacked, now
  behind chapter 7's m-SVDD defence (Mygdalis, Tefas and Pitas 2020): it names the face or rejects
  it as adversarial; a rejected face is not named (it counts as misrecognised, and the share of
  rejected faces is its own column).

A new threat is one small class (``name``, ``knows``, :meth:`Threat.recognizers` and where the
attacker looks at something else than the protected face, :meth:`Threat.view`) and one
registration in :data:`THREATS`; :func:`threat_table` and the chapter pick it up.

Example
-------
>>> from facedid_lib.evaluate import threats
>>> threats.THREATS.names()
('attacked', 'unseen', 'parrot', 'adaptive', 'averaging', 'defended')
>>> blur = threats.Protection.of_method("blur", sigma=4.0)
>>> blur.label, blur.randomised, blur.attacked
('blur sigma=4', False, ())
>>> threats.Protection.of_method("gaussian-noise", sigma=0.1).randomised
True
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from typing import Callable

import pandas as pd
import torch
import torch.nn as nn

from facedid_lib.core import config
from facedid_lib.core.ops import batches
from facedid_lib.core.registry import Registry
from facedid_lib.core.train import fit_classifier
from facedid_lib.data.facesets import FaceSet
from facedid_lib.recognize.protocol import Recognizer


@dataclasses.dataclass(frozen=True)
class Protection:
    """A method at one setting, as an attacker meets it.

    ``protect(images, labels, seed) -> images`` applies it to ``(N, 3, H, W)`` faces in [0, 1]
    (``labels``: the faces' identities, which an adversarial attack needs; ``seed``: the draw of a
    randomised method). ``attacked``: titles of the recognizers the protection was built against
    (``("Model A",)``); ``randomised``: another seed gives another output.
    """

    label: str
    protect: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]
    attacked: tuple = ()
    randomised: bool = False

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, seed: int = 0, batch_size: int = 64) -> torch.Tensor:
        """The protected images, on the CPU, in the faces' order, computed in batches (a whole-set
        method, k-Same, gets every face at once)."""
        if getattr(self.protect, "whole_set", False):
            batch_size = len(images)
        parts = [self.protect(images[part], labels[part], seed).detach().cpu()
                 for part in batches(len(images), batch_size)]
        return torch.cat(parts) if parts else images[:0].cpu()

    @classmethod
    def of_method(cls, name: str, label: str | None = None, **params) -> "Protection":
        """A registered method (:mod:`facedid_lib.methods`) at ``params``; randomised where it
        declares a ``seed`` parameter (the seed of each call replaces the declared one)."""
        from facedid_lib import methods
        from facedid_lib.pipeline.video import draws_at_random

        method = methods.get(name)
        randomised = draws_at_random(method)
        shown = {k: v for k, v in params.items() if k not in method.needs}

        def protect(images, labels, seed):
            given = {**params, "seed": seed} if randomised else params
            return method(images, **given)

        protect.whole_set = method.whole_set
        text = " ".join([name, *(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())])
        return cls(label or text, protect, (), randomised)

    @classmethod
    def of_attack(cls, name: str, model: nn.Module, attacked: str, label: str | None = None, **params) -> "Protection":
        """An adversarial attack of :mod:`facedid_lib.attacks.adversarial` (``"I-FGSM"``,
        ``"P-FGVM"``, ``"k-A^3"``...) on ``model`` (logits on the faces' chips), whose recognizer
        is titled ``attacked``; deterministic for given faces (the seed draws the targets)."""
        from facedid_lib.attacks import adversarial

        def protect(images, labels, seed):
            attack = adversarial.make(name, model, **{**params, "seed": seed})
            return attack.perturb(images, labels, progress=False)

        return cls(label or f"{name} on {attacked}", protect, (attacked,), False)


@dataclasses.dataclass
class World:
    """What the attackers have to work with.

    ``gallery``: clean photos of the protected people (the course's training split), the labels in
    the recognizers' label space; ``recognizers``: the course's recognizers on that clean gallery,
    by title (:func:`facedid_lib.recognize.course_recognizers`); ``unseen``: the titles of those a
    protection never saw unless it names them (default SFace and the dlib black box);
    ``model_a``: the trained Model A (:func:`facedid_lib.recognize.recognizers.model_a`) that the
    adaptive attacker fine-tunes (None: only the SFace head); ``defended``: per attacked
    recognizer's title, its defended versions by title (``{"Model A": {"Model A + m-SVDD":
    defence.recognizer(a)}}``, :mod:`facedid_lib.defences.svdd`), for the ``defended`` threat.
    """

    gallery: FaceSet
    recognizers: dict
    unseen: tuple = ("SFace", "dlib black box")
    model_a: object = None
    defended: dict = dataclasses.field(default_factory=dict)
    _protected: dict = dataclasses.field(default_factory=dict, repr=False)

    def unseen_by(self, protection: Protection) -> list:
        """The titles of :attr:`unseen` that ``protection`` was not built against."""
        return [title for title in self.unseen if title not in protection.attacked]

    def protected_gallery(self, protection: Protection, seed: int = 0) -> FaceSet:
        """The gallery protected by ``protection`` (computed once per protection and seed)."""
        key = (protection.label, seed)
        if key not in self._protected:
            images = protection(self.gallery.images, self.gallery.labels, seed)
            self._protected[key] = dataclasses.replace(self.gallery, images=images)
        return self._protected[key]


class Threat:
    """An attacker: ``name`` (the registry key), ``knows`` (one sentence: what the attacker has),
    :meth:`recognizers` (who recognises) and :meth:`view` (what they look at)."""

    name: str = ""
    knows: str = ""

    def applies(self, protection: Protection) -> bool:
        """Whether this attacker has anything to do against ``protection``."""
        return True

    def recognizers(self, protection: Protection, world: World) -> dict:
        """``title -> recognizer`` of this attacker against ``protection``."""
        raise NotImplementedError

    def view(self, protection: Protection, faces: FaceSet, protected: torch.Tensor) -> torch.Tensor:
        """What the attacker looks at: the protected faces themselves (the default)."""
        return protected

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


THREATS = Registry("threat")
"""The threat models by name: ``THREATS["parrot"]`` is a :class:`Threat`."""


class Attacked(Threat):
    name = "attacked"
    knows = "the recognizer the protection was built against, with a clean gallery (white box)"

    def applies(self, protection):
        return bool(protection.attacked)

    def recognizers(self, protection, world):
        missing = [title for title in protection.attacked if title not in world.recognizers]
        if missing:
            raise ValueError(f"{protection.label} was built against {missing}, which the world's recognizers lack")
        return {title: world.recognizers[title] for title in protection.attacked}


class Unseen(Threat):
    name = "unseen"
    knows = "recognizers of other families that the protection never saw, with a clean gallery"

    def recognizers(self, protection, world):
        return {title: world.recognizers[title] for title in world.unseen_by(protection)}


@dataclasses.dataclass(repr=False)
class Parrot(Threat):
    """The unseen recognizers on the gallery protected the same way (Newton, Sweeney and Malin 2005).
    ``titles``: which of them (None: the world's ``unseen``; ``("SFace",)`` skips the dlib black box,
    whose protected gallery costs about 88 ms a photo on a CPU)."""

    titles: tuple | None = None
    name = "parrot"
    knows = "the protection and its setting: the gallery is protected the same way (Newton et al. 2005)"

    def recognizers(self, protection, world):
        from facedid_lib.recognize.course import dlib_recognizers, sface_recognizer
        from facedid_lib.recognize.protocol import classifier

        gallery = world.protected_gallery(protection)
        build = {"dlib black box": lambda: dlib_recognizers(gallery)["dlib black box"],
                 "SFace": lambda: classifier(sface_recognizer(gallery), name="SFace")}
        titles = world.unseen if self.titles is None else self.titles
        unknown = [title for title in titles if title not in build]
        if unknown:
            raise ValueError(f"a parrot gallery can be built for {list(build)}, not {unknown}")
        return {f"parrot {title}": _named(build[title](), f"parrot {title}") for title in titles}


@dataclasses.dataclass(repr=False)
class Adaptive(Threat):
    """Recognizers trained on the protected gallery: the attacker has protected photos of the
    people, labelled, and learns what survives the protection (McPherson et al. 2016 train a whole
    network on obfuscated faces; Radiya-Dixit et al. 2022 fine-tune a pretrained one).

    - ``adaptive SFace``: a head ``Linear(128, C)`` on SFace's unit embeddings of the protected
      gallery, cross-entropy with Adam (``lr``) for ``epochs`` epochs;
    - ``adaptive Model A`` (where the world holds ``model_a``): Model A's trained weights fine-tuned
      on the protected gallery for ``fine_tune_epochs`` epochs with its own recipe (learning rate,
      batch, L2 penalty), cached by the protected images, the starting weights and the epochs.
      ``fine_tune_epochs=None`` (the default) takes the profile's, read when the fine-tune runs:
      3 epochs in the quick profile, 5 in the full one (:func:`fine_tune_epochs_of_profile`).

    Both train on the whole protected gallery without early stopping (nothing is held out: the
    test faces are the protected people's other photos).
    """

    epochs: int = 60
    lr: float = 1e-2
    fine_tune_epochs: int | None = None
    seed: int = 0
    name = "adaptive"
    knows = "protected photos of the same people, labelled: recognizers trained on them (McPherson et al. 2016)"

    def recognizers(self, protection, world):
        gallery = world.protected_gallery(protection)
        built = {"adaptive SFace": self.sface_head(gallery)}
        if world.model_a is not None:
            built["adaptive Model A"] = self.fine_tuned_model_a(world.model_a, gallery)
        return built

    def sface_head(self, gallery: FaceSet) -> Recognizer:
        """SFace's embedding with a head trained on ``gallery`` (:class:`Recognizer` "adaptive SFace")."""
        from facedid_lib.recognize import sface

        head = train_head(sface.embed(gallery.images.cpu()), gallery.labels, gallery.n_classes, self.epochs, self.lr,
                          self.seed)
        return Recognizer(_EmbedThenHead(head), "adaptive SFace", n_classes=gallery.n_classes)

    def fine_tuned_model_a(self, model_a, gallery: FaceSet) -> Recognizer:
        """``model_a`` (:func:`facedid_lib.recognize.recognizers.model_a`: its ``model`` and
        ``recipe``) fine-tuned on ``gallery`` (:class:`Recognizer` "adaptive Model A"), cached."""
        from facedid_lib.core import cache
        from facedid_lib.recognize.course import gallery_hash
        from facedid_lib.recognize.protocol import classifier

        epochs = fine_tune_epochs_of_profile() if self.fine_tune_epochs is None else self.fine_tune_epochs

        def fine_tune(model):
            return fine_tune_model(model, gallery.images, gallery.labels, model_a.recipe, epochs, self.seed)

        start = hashlib.sha256(b"".join(t.detach().cpu().contiguous().numpy().tobytes()
                                        for t in model_a.model.state_dict().values())).hexdigest()
        model, _ = cache.trained("adaptive-model-a", lambda: copy.deepcopy(model_a.model).cpu(), fine_tune,
                                 gallery_hash(gallery), gallery.labels.tolist(), start, epochs, self.seed)
        return classifier(model, model_a.recipe.image_size, name="adaptive Model A", n_classes=gallery.n_classes)


def fine_tune_epochs_of_profile() -> int:
    """The adaptive attacker's default fine-tune of Model A: 3 epochs in the quick profile (CPU, CI), 5 in
    the full one (:func:`facedid_lib.core.config.by_profile`).

    >>> import os
    >>> from unittest import mock
    >>> [mock.patch.dict(os.environ, FACEDID_PROFILE=p)(fine_tune_epochs_of_profile)() for p in ("quick", "full")]
    [3, 5]
    """
    return config.by_profile(quick=3, full=5)


def train_head(embeddings: torch.Tensor, labels: torch.Tensor, n_classes: int, epochs: int = 60, lr: float = 1e-2,
               seed: int = 0) -> nn.Linear:
    """A ``Linear(D, n_classes)`` head trained on ``(N, D)`` embeddings: cross-entropy, Adam, batches
    of 32, ``epochs`` epochs on all of them (no early stopping). The adaptive attacker's head."""
    torch.manual_seed(seed)
    head = nn.Linear(embeddings.shape[1], n_classes)
    fit_classifier(head, embeddings, labels, embeddings, labels, epochs=epochs, lr=lr, batch_size=32,
                   weight_decay=0.0, patience=epochs, seed=seed, progress=False)
    return head


def fine_tune_model(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, recipe, epochs: int = 5,
                    seed: int = 0) -> dict:
    """Train ``model`` (in place) on ``images`` resized to ``recipe.image_size``, with the recipe's
    learning rate, batch and L2 penalty, for ``epochs`` epochs (no early stopping); returns the
    history as a dict. The adaptive attacker's fine-tune of Model A."""
    from facedid_lib.core.ops import resize

    x = resize(images.cpu(), recipe.image_size)
    return fit_classifier(model, x, labels, x, labels, epochs=epochs, lr=recipe.lr, batch_size=recipe.batch_size,
                          weight_decay=recipe.weight_decay, patience=epochs, seed=seed, progress=False).as_dict()


class _EmbedThenHead:
    """``images -> head(sface.embed(images))`` as scores (SFace is not a torch module: a callable)."""

    def __init__(self, head: nn.Module):
        self.head = head.eval()

    def __call__(self, images):
        from facedid_lib.recognize import sface

        with torch.no_grad():
            return self.head(sface.embed(images.cpu()).to(next(self.head.parameters()).device))


@dataclasses.dataclass(repr=False)
class Averaging(Threat):
    """``copies`` protected versions of each face, drawn with seeds ``0 .. copies - 1``, averaged
    pixel by pixel and shown to the unseen recognizers: ``x̄ = (1/n) Σ_s P_s(x)``. Only for a
    randomised protection (another seed, another output). ``titles``: which unseen recognizers look
    (None: all of the world's ``unseen``; ``("SFace",)`` skips the dlib black box, about 88 ms a
    photo on a CPU)."""

    copies: int = 8
    titles: tuple | None = None
    name = "averaging"
    knows = "several releases of the same face, each protected with another draw (frames of a video)"

    def applies(self, protection):
        return protection.randomised

    def recognizers(self, protection, world):
        titles = [t for t in world.unseen_by(protection) if self.titles is None or t in self.titles]
        return {f"{title}, {self.copies} averaged": world.recognizers[title] for title in titles}

    def view(self, protection, faces, protected):
        total = protected.double().clone()
        for seed in range(1, self.copies):
            total += protection(faces.images, faces.labels, seed).double()
        return (total / self.copies).float()


class DefendedThreat(Threat):
    """The attacked recognizer behind a defence: ``world.defended[title]`` for each recognizer the
    protection attacked (chapter 7's m-SVDD, its classifiers on frozen features or trained end to
    end with the trunk). Applies to adversarial protections only; without a defended version of the
    attacked recognizer in the world, it leaves NaN."""

    name = "defended"
    knows = ("the recognizer the protection attacked, defended by m-SVDD (chapter 7), with a clean gallery: "
             "it names the face or rejects it as adversarial")

    def applies(self, protection):
        return bool(protection.attacked)

    def recognizers(self, protection, world):
        return {title: recognize for attacked in protection.attacked
                for title, recognize in world.defended.get(attacked, {}).items()}


def describe(threats=None) -> pd.DataFrame:
    """What each attacker knows: one row per threat (registry names or :class:`Threat` objects; None:
    every one of :data:`THREATS`), the column ``knows``.

    >>> describe(["parrot"]).loc["parrot", "knows"].startswith("the protection and its setting")
    True
    """
    chosen = [THREATS[t] if isinstance(t, str) else t for t in (THREATS.names() if threats is None else threats)]
    return pd.DataFrame({"knows": [t.knows for t in chosen]}, index=pd.Index([t.name for t in chosen], name="threat"))


def threat_table(protections, faces: FaceSet, world: World, threats=None, detectors: dict | None = None, k: int = 5,
                 progress: bool = True) -> pd.DataFrame:
    """Every protection under every threat that applies to it: who is protected against whom.

    Parameters
    ----------
    protections : :class:`Protection` objects (their labels name the rows).
    faces : the protected people's test faces, labelled as ``world.gallery``.
    world : the gallery and the course's recognizers (:class:`World`).
    threats : registry names or :class:`Threat` objects (None: every one of :data:`THREATS`).
    detectors : ``name -> images -> (N,) bool``: ``detected <name>``, the faceness of the output.
    k : the retrieval column: the share of faces whose true identity is among a recognizer's ``k``
        best guesses.

    Returns
    -------
    One row per protection: ``SSIM`` (to the clean faces), ``detected <name>``, then per threat
    ``MR <threat>`` (the misrecognition rate of the attacker's best recognizer: the lowest of its
    recognizers', for the attacker picks whichever works) and ``top-<k> <threat>`` (the highest
    retrieval rate of its recognizers), and per recognizer ``MR <recognizer title>`` (a defended
    recognizer's rejected face counts as misrecognised: it is not named) and, for a defended one,
    ``rejected <recognizer title>``, the share it rejected. A threat that does not apply (no
    attacked recognizer, a deterministic method under averaging) leaves NaN.
    """
    from tqdm.auto import tqdm

    from facedid_lib import metrics
    from facedid_lib.recognize.protocol import has_scores, predict

    chosen = [THREATS[t] if isinstance(t, str) else t for t in (THREATS.names() if threats is None else threats)]
    rows = {}
    for protection in tqdm(protections, desc="protections", disable=not progress):
        protected = protection(faces.images, faces.labels)
        row = {"SSIM": float(metrics.ssim(protected, faces.images).mean())}
        for name, detect in (detectors or {}).items():
            row[f"detected {name}"] = float(torch.as_tensor(detect(protected)).float().mean())
        for threat in chosen:
            if not threat.applies(protection):
                row[f"MR {threat.name}"] = row[f"top-{k} {threat.name}"] = float("nan")
                continue
            seen = threat.view(protection, faces, protected)
            rates, found = [], []
            for title, recognize in threat.recognizers(protection, world).items():
                if has_scores(recognize):
                    labels, scores = predict(recognize, seen, scores=True)
                    found.append(float((metrics.true_label_rank(scores, faces.labels) <= k).float().mean()))
                else:
                    labels = predict(recognize, seen)
                labels = torch.as_tensor(labels).cpu()
                if getattr(recognize, "rejects", False):  # a rejected face is not named: it is not recognised
                    counts = metrics.outcomes(labels, faces.labels)
                    rates.append((counts["succeeded"] + counts["detected"]) / counts["n"])
                    row[f"rejected {title}"] = counts["detected"] / counts["n"]
                else:
                    rates.append(metrics.misclassification_rate(labels, faces.labels))
                row[f"MR {title}"] = rates[-1]
            row[f"MR {threat.name}"] = min(rates) if rates else float("nan")
            row[f"top-{k} {threat.name}"] = max(found) if found else float("nan")
        rows[protection.label] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def matched_setting(method: str, target_ssim: float, faces: FaceSet, param: str | None = None, low=None, high=None,
                    tolerance: float = 0.02, steps: int = 12, **fixed) -> tuple:
    """The value of ``method``'s ``param`` whose output has mean SSIM ``target_ssim`` to ``faces``
    (matched utility: every method compared where it costs the same quality), by bisection.

    ``param`` defaults to the method's first numeric parameter (blur's ``sigma``, pixelation's
    ``block``, SVD's ``rank``), ``low`` and ``high`` to its declared range, and an ``int`` default
    makes the search run over integers. SSIM must change monotonically along the range, in either
    direction. ``fixed``: the method's other parameters.

    Returns ``(param, value, ssim)``: the value tried whose SSIM came closest to the target. Raises
    :class:`OutOfReach` (a ``ValueError``) when the target lies outside what the range's ends reach
    by more than ``tolerance`` (the method cannot reach that utility), so a chapter never prints an
    unmatched setting as matched. The range's ends bound the search: a method whose SSIM rises and
    then falls along the range (the hypersphere's radius) is refused where its middle would reach.
    """
    from facedid_lib import metrics, methods

    run = methods.get(method)
    numeric = [p for p in run.params if p.low is not None and not isinstance(p.default, bool)]
    if param is None:
        if not numeric:
            raise ValueError(f"{method} has no numeric parameter to search")
        param = numeric[0].name
    declared = next((p for p in numeric if p.name == param), None)
    if declared is None:
        raise ValueError(f"{method} has no numeric parameter {param!r}: {[p.name for p in numeric]}")
    low = declared.low if low is None else low
    high = declared.high if high is None else high
    integer = isinstance(declared.default, int)

    def ssim_at(value):
        value = int(round(value)) if integer else float(value)
        out = run(faces.images, **{**fixed, param: value}).detach().cpu()
        return value, float(metrics.ssim(out, faces.images.cpu()).mean())

    ends = [ssim_at(low), ssim_at(high)]
    lowest, highest = min(s for _, s in ends), max(s for _, s in ends)
    if not lowest - tolerance <= target_ssim <= highest + tolerance:
        raise OutOfReach(f"{method}: SSIM runs from {ends[0][1]:.3f} ({param}={ends[0][0]}) to {ends[1][1]:.3f} "
                         f"({param}={ends[1][0]}): {target_ssim} is out of reach")
    tried = list(ends)
    # a: the end of higher SSIM, b: the end of lower SSIM; the target lies between them
    (a, _), (b, _) = sorted(ends, key=lambda t: -t[1])
    for _ in range(steps):
        if abs(min(tried, key=lambda t: abs(t[1] - target_ssim))[1] - target_ssim) <= tolerance / 4:
            break
        value, ssim = ssim_at((a + b) / 2)
        if any(value == t[0] for t in tried):
            break  # no integer left between the ends
        tried.append((value, ssim))
        a, b = (value, b) if ssim > target_ssim else (a, value)
    value, ssim = min(tried, key=lambda t: abs(t[1] - target_ssim))
    return param, value, ssim


class OutOfReach(ValueError):
    """:func:`matched_setting`: the method's range does not reach the asked SSIM."""


def _named(recognizer, name: str):
    recognizer.name = name
    return recognizer


for _threat in (Attacked(), Unseen(), Parrot(), Adaptive(), Averaging(), DefendedThreat()):
    THREATS.register(_threat.name, _threat)


__all__ = ["Protection", "World", "Threat", "THREATS", "describe", "Attacked", "Unseen", "Parrot", "Adaptive",
           "Averaging", "DefendedThreat", "threat_table", "matched_setting", "OutOfReach", "train_head",
           "fine_tune_model", "fine_tune_epochs_of_profile"]
