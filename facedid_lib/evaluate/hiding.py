"""Does a method hide the faces of real photos? The faces that detectors still find after it, per
setting, and the weakest setting that leaves none: how the ``facedid`` command's defaults were chosen.

A setting is a method, the region it covers (``"inner"``: the aligned inner face, pasted back;
``"head"``: the whole head, :mod:`facedid_lib.pipeline.head`) and its parameters (the library's for
``"inner"``, the command's for ``"head"``). Each photo's faces are located once, by ``locate`` (a
detector or a union), and every setting covers those faces; then each ``check`` detector runs on
the result. A face counted by eye is *still found* when a detection holds its centre and frames it
as it was framed before: an intersection over union of at least :data:`SAME_BOX` with the box that
``locate`` gave it on the clean photo (a detector that answers a hidden face with a box around the
whole torso has not found the face; a face ``locate`` missed counts with any detection holding its
centre). Where no faces were counted, every detection counts.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from facedid_lib.align.chips import locate_faces
from facedid_lib.detect import detect
from facedid_lib.detect.union import iou
from facedid_lib.methods.registry import get
from facedid_lib.pipeline.head import cover_chip_heads, cover_heads, head_params
from facedid_lib.pipeline.photos import deidentify_photo

__all__ = ["Setting", "GRIDS", "faces_left", "hiding_table", "weakest_protective", "protective_table",
           "recognition_table", "chance_bound"]

#: ``(method name, region, parameters)``
Setting = tuple
#: The overlap with a face's box on the clean photo that a detection needs to be that face again.
SAME_BOX = 0.25
#: The grids the command's defaults were chosen on (:data:`facedid_lib.methods.classical.PROTECTIVE`):
#: method -> (command parameter, values weakest first).
GRIDS = {
    "blur": ("face_sigma", (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)),
    "pixelate": ("face_block", (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)),
    "gaussian-noise": ("sigma", (0.2, 0.3, 0.5, 0.7, 1.0)),
    "impulse-noise": ("density", (0.2, 0.4, 0.5, 0.6, 0.7, 0.8)),
    "darken": ("factor", (0.2, 0.1, 0.05, 0.04, 0.03, 0.02, 0.01)),
}


def _still_found(photo, name: str, detector: str, counted: Mapping | None, clean=None) -> int:
    """Faces of ``counted[name]`` that ``detector`` still finds in ``photo`` (see the module's text);
    ``clean``: the boxes ``locate`` found on the clean photo."""
    found = detect(photo, detector)
    if not counted:
        return len(found)
    free = list(counted[name])
    hits = 0
    for det in sorted(found, key=lambda d: -d.score):
        for centre in free:
            if not (det.x0 <= centre[0] < det.x1 and det.y0 <= centre[1] < det.y1):
                continue
            before = [box for box in (clean if clean is not None else ())
                      if box[0] <= centre[0] < box[2] and box[1] <= centre[1] < box[3]]
            if before and max(iou(det[:4], box) for box in before) < SAME_BOX:
                continue  # a box around more than the face: not the face found again
            free.remove(centre)
            hits += 1
            break
    return hits


def faces_left(photos: Mapping, setting: Setting, check: Sequence[str] = ("yunet", "mmod"),
               locate: str = "yunet", counted: Mapping | None = None, located: Mapping | None = None,
               head_scale: float = 1.0) -> dict:
    """``check detector -> faces still found``, summed over ``photos`` (name -> photo), after ``setting``.

    ``located`` (name -> :class:`~facedid_lib.align.AlignedFaces` from :func:`locate_faces` with
    ``landmarks="auto"``) saves locating the faces again; ``head_scale`` enlarges the head's ellipse.
    """
    method, region, params = setting
    method = get(method)
    left = dict.fromkeys(check, 0)
    for name, photo in photos.items():
        found = located[name] if located is not None and name in located else \
            locate_faces(photo, locate, landmarks="auto")
        if region == "head":
            new = cover_heads(photo, found, method, params, scale=head_scale)
        else:
            new, _ = deidentify_photo(photo, method, locate, landmarks="auto", **params)
        for detector in check:
            left[detector] += _still_found(new, name, detector, counted, found.detections.boxes)
    return left


def hiding_table(photos: Mapping, settings: Mapping[str, Setting], check: Sequence[str] = ("yunet", "mmod"),
                 locate: str = "yunet", counted: Mapping | None = None, progress: bool = False) -> pd.DataFrame:
    """One row per setting (``label -> (method, region, params)``), and a ``clean`` row first: per
    ``check`` detector the faces it still finds (``found <detector>``), of the ``counted`` faces."""
    located = {name: locate_faces(photo, locate, landmarks="auto") for name, photo in photos.items()}
    rows = {"clean": {"method": "", "region": "", "parameters": "",
                      **{f"found {d}": sum(_still_found(p, n, d, counted, located[n].detections.boxes)
                                           for n, p in photos.items()) for d in check}}}
    items = settings.items()
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="hiding", unit="setting")
    for label, setting in items:
        left = faces_left(photos, setting, check, locate, counted, located)
        method, region, params = setting
        rows[label] = {"method": method, "region": region,
                       "parameters": ", ".join(f"{k}={v}" for k, v in params.items()),
                       **{f"found {d}": n for d, n in left.items()}}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.insert(3, "counted", sum(len(c) for c in counted.values()) if counted else None)
    return table


def weakest_protective(photos: Mapping, method: str, param: str, values: Sequence, region: str = "head",
                       fixed: dict | None = None, check: Sequence[str] = ("yunet", "mmod"), locate: str = "yunet",
                       counted: Mapping | None = None, head_scale: float = 1.0, located: Mapping | None = None) -> tuple:
    """``(value, faces left per value)``: the weakest of ``values`` (given weakest first) from which
    on no ``check`` detector finds a face at that value *and at every stronger one* (near the
    threshold a face can come and go), or None; and, per value, ``check -> faces still found``.
    ``located``: as for :func:`faces_left` (None: the faces are located here, once)."""
    if located is None:
        located = {name: locate_faces(photo, locate, landmarks="auto") for name, photo in photos.items()}
    tried = {value: faces_left(photos, (method, region, {**(fixed or {}), param: value}), check, locate, counted,
                               located, head_scale) for value in values}
    weakest = None
    for value in reversed(list(values)):
        if any(tried[value].values()):
            break
        weakest = value
    return weakest, tried


def protective_table(photos: Mapping, grids: Mapping | None = None, check: Sequence[str] = ("yunet", "mmod"),
                     locate: str = "yunet", counted: Mapping | None = None) -> tuple:
    """:func:`weakest_protective` for each method of ``grids`` (default :data:`GRIDS`): ``(table,
    weakest)``, the table with one row per ``(method, value)`` and the faces each ``check``
    detector still finds (``found <detector>``), ``weakest`` method -> the weakest protective value
    (None where none is)."""
    rows, weakest = {}, {}
    located = {name: locate_faces(photo, locate, landmarks="auto") for name, photo in photos.items()}
    for method, (param, values) in (grids or GRIDS).items():
        weakest[method], tried = weakest_protective(photos, method, param, values, check=check, locate=locate,
                                                    counted=counted, located=located)
        for value, left in tried.items():
            rows[method, f"{param}={value}"] = {f"found {d}": n for d, n in left.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["method", "setting"])
    return table, weakest


def recognition_table(faces, recognizers: dict, settings: Mapping[str, Setting], device=None) -> pd.DataFrame:
    """The recognizers on ``faces`` (a :class:`~facedid_lib.data.FaceSet` of aligned chips) after
    each setting: one row per setting (and ``clean``) with each recognizer's accuracy (%) and the
    SSIM (%). A ``"head"`` setting covers each chip's head (:func:`~facedid_lib.pipeline.cover_chip_heads`),
    an ``"inner"`` one runs the method on the chips with the library's parameters."""
    from facedid_lib.evaluate.harness import measure
    from facedid_lib.metrics.columns import MR

    rows = {}
    for label, setting in {"clean": None, **settings}.items():
        if setting is None:
            new = faces.images
        else:
            method, region, params = setting
            method = get(method)
            new = (cover_chip_heads(faces.images, method, head_params(method, params)) if region == "head"
                   else method(faces.images, **params))
        row = measure(faces, new, recognizers, device=device)
        rows[label] = {**{name: 100 * (1 - row[column]) for name, column in MR.columns(row).items()},
                       "SSIM": 100 * row["SSIM"]}
    return pd.DataFrame.from_dict(rows, orient="index")


def chance_bound(n_faces: int, n_classes: int, z: float = 3.0) -> float:
    """The accuracy (%) that guessing among ``n_classes`` exceeds with probability about 0.1 % on
    ``n_faces`` faces: ``100 (p + z sqrt(p (1 - p) / n))``, ``p = 1 / n_classes`` (a normal bound
    on the binomial; ``z = 3``). An accuracy at or under it is *at chance*."""
    p = 1 / n_classes
    return 100 * (p + z * (p * (1 - p) / n_faces) ** 0.5)
