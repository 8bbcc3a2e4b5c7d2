"""What a recognizer is: ``images -> (N,) labels``, and with scores ``(N, C)`` for the rank view.

A :class:`Recognizer` wraps a model that returns logits (or any ``score`` function, higher = more
likely) and resizes to its input size; :class:`Defended` answers
:data:`~facedid_lib.metrics.REJECT` where a defence fires. Plain functions ``images -> (N,)
labels`` work everywhere a recognizer is taken (without ranks); :func:`predict` runs any of them.

Recognizers that share a first stage (Model B and the "dlib gallery" both describe a face with the
same dlib ResNet) declare it as :class:`SharedFeatures`; a caller that runs several recognizers on
the same images (the harness, :func:`facedid_lib.evaluate.harness.evaluate`) passes them one
``shared`` dict, and the stage is computed once per batch (bit-identical to computing it in each).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import torch
import torch.nn as nn

from facedid_lib import metrics
from facedid_lib.core.config import module_device
from facedid_lib.core.ops import resize


@dataclasses.dataclass(frozen=True)
class SharedFeatures:
    """A recognizer's first stage that other recognizers compute alike: ``score(x) ==
    head(compute(x))`` bit for bit.

    Two recognizers whose ``SharedFeatures`` have the same ``key`` must compute the same numbers
    from the same images (the same network and weights, the same preprocessing, the same dtype,
    and the same batching: ``compute`` splits its images into chunks of ``batch_size``, None: one
    call), so one may reuse the other's result.

    Parameters
    ----------
    key : hashable, what is computed (e.g. ``("dlib-resnet", weights file, chip padding)``).
    compute : ``images -> features``, e.g. ``(N, 128)`` descriptors.
    batch_size : the chunks ``compute`` works in (None: all images in one call).
    """

    key: tuple
    compute: Callable
    batch_size: int | None = None

    def memo_key(self, x: torch.Tensor, start: int, image_size: int | None) -> tuple:
        """The key of ``compute(x)`` in a ``shared`` dict, where ``x`` are the images ``start ..
        start + len(x)`` of the caller's batch, resized to ``image_size``."""
        chunk = len(x) if self.batch_size is None else min(len(x), self.batch_size)
        return self.key, str(x.device), x.dtype, tuple(x.shape), image_size, start, chunk


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
    features, head : optional, ``score`` split in two: ``score(x) == head(features.compute(x))``
        exactly (a :class:`SharedFeatures`, e.g. a descriptor network, and what the recognizer
        does with its output). :meth:`labels_and_scores` given a ``shared`` dict then computes the
        features once for every recognizer with the same ``features.key``.

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
                 image_size: int | None = None, batch_size: int | None = 64,
                 features: SharedFeatures | None = None, head: Callable | None = None):
        if not callable(score):
            raise TypeError(f"score must be callable (images -> (N, C) scores), got {type(score).__name__}")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                       or batch_size < 1):
            raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
        n_classes = getattr(score, "n_classes", None) if n_classes is None else n_classes
        if n_classes is not None and (isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1):
            raise ValueError(f"n_classes must be a positive int, got {n_classes!r}")
        if (features is None) != (head is None):
            raise ValueError("give features and head together (score(x) == head(features.compute(x))), or neither")
        if features is not None and not (isinstance(features, SharedFeatures) and callable(head)):
            raise TypeError(f"features must be SharedFeatures and head callable, got {type(features).__name__} "
                            f"and {type(head).__name__}")
        self.score, self.name, self.n_classes = score, name, n_classes
        self.image_size, self.batch_size = image_size, batch_size
        self.features, self.head = features, head

    def _score(self, x: torch.Tensor, shared: dict | None, start: int) -> torch.Tensor:
        if self.features is None or shared is None:
            return self.score(x)
        key = self.features.memo_key(x, start, self.image_size)
        if key not in shared:
            shared[key] = self.features.compute(x)
        return self.head(shared[key])

    @torch.no_grad()
    def labels_and_scores(self, images: torch.Tensor, shared: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N,)`` int64 labels and ``(N, C)`` float scores of the images, on the CPU, in one pass.

        ``shared``: a dict that the caller made for these very images and passes to every
        recognizer it runs on them; features declared as :class:`SharedFeatures` are computed once
        and kept there (the numbers are the same with or without it).
        """
        model = self.score if isinstance(self.score, nn.Module) else None
        if model is not None:
            model.eval()
            device = module_device(model, images.device)
        step = len(images) if self.batch_size is None else self.batch_size
        labels, scores = [], []
        for i in range(0, len(images), max(step, 1)):
            batch = images[i:i + step]
            z = self._score(resize(batch.to(device) if model is not None else batch, self.image_size), shared, i)
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
    def labels_and_scores(self, images: torch.Tensor, shared: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The recognizer's labels (REJECT where the defence fires) and its scores, on the CPU
        (``shared``: as :meth:`Recognizer.labels_and_scores`)."""
        labels, scores = predict(self.recognizer, images, shared, scores=True)
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


def predict(recognize, images: torch.Tensor, shared: dict | None = None, scores: bool = False):
    """Run any recognizer of the course on ``images``: ``(N,)`` labels on the CPU, or with
    ``scores`` (it must :func:`has_scores`) ``(labels, (N, C) scores)``.

    A :class:`Recognizer` (or :class:`Defended`) gets ``shared`` (see
    :meth:`Recognizer.labels_and_scores`); an object with ``labels_and_scores`` is asked for both;
    a plain function ``images -> labels`` is called.
    """
    if isinstance(recognize, Recognizer):
        labels, z = recognize.labels_and_scores(images, shared=shared)
    elif has_scores(recognize):
        labels, z = recognize.labels_and_scores(images)
    elif scores:
        raise TypeError(f"the recognizer gives no scores (a Recognizer, see classifier), got {type(recognize).__name__}")
    else:
        return torch.as_tensor(recognize(images)).cpu()
    return (labels, z) if scores else labels


def classifier(model, image_size: int | None = None, batch_size: int = 64, name: str | None = None,
               n_classes: int | None = None) -> Recognizer:
    """A :class:`Recognizer` of a logits model: ``images -> (N,) labels`` (the argmax), with
    ``scores`` the logits, run in eval mode without gradients (``image_size``: resize to it first).
    ``name``: default the model's class name."""
    return Recognizer(model, name or type(model).__name__, n_classes=n_classes, image_size=image_size,
                      batch_size=batch_size)


__all__ = ["SharedFeatures", "Recognizer", "Defended", "has_scores", "predict", "classifier"]
