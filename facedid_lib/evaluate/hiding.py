"""Does a method hide the faces of real photos? The faces that detectors still find after it, per
setting, and the weakest setting that leaves none: how the ``facedid`` command's defaults were chosen.

A setting is a method, the region it covers (``"inner"``: the aligned inner face, pasted back;
``"head"``: the whole head, :mod:`facedid_lib.pipeline.head`) and its parameters (the library's for
``"inner"``, the command's for ``"head"``). Each photo's faces are located once, by ``locate`` (a
detector or a union), and every setting covers those faces; then each ``check`` detector runs on
the result and a face *still found* is a detection that holds the centre of a face counted by eye
(:func:`facedid_lib.detect.match_faces`; where no faces were counted, every detection counts).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from facedid_lib.align.chips import locate_faces
from facedid_lib.detect import detect, match_faces
from facedid_lib.methods.registry import get
from facedid_lib.pipeline.head import cover_chip_heads, cover_heads, head_params
from facedid_lib.pipeline.photos import deidentify_photo

__all__ = ["Setting", "faces_left", "hiding_table", "weakest_protective", "recognition_table", "chance_bound"]

#: ``(method name, region, parameters)``
Setting = tuple


def _still_found(photo, name: str, detector: str, counted: Mapping | None) -> int:
    found = detect(photo, detector)
    return match_faces(found, counted[name])[0] if counted else len(found)


def faces_left(photos: Mapping, setting: Setting, check: Sequence[str] = ("yunet", "mmod"),
               locate: str = "yunet", counted: Mapping | None = None, located: Mapping | None = None) -> dict:
    """``check detector -> faces still found``, summed over ``photos`` (name -> photo), after ``setting``.

    ``located`` (name -> :class:`~facedid_lib.align.AlignedFaces` from :func:`locate_faces` with
    ``landmarks="auto"``) saves locating the faces again for the ``"head"`` region.
    """
    method, region, params = setting
    method = get(method)
    left = dict.fromkeys(check, 0)
    for name, photo in photos.items():
        if region == "head":
            found = (located or {}).get(name) or locate_faces(photo, locate, landmarks="auto")
            new = cover_heads(photo, found, method, params)
        else:
            new, _ = deidentify_photo(photo, method, locate, landmarks="auto", **params)
        for detector in check:
            left[detector] += _still_found(new, name, detector, counted)
    return left


def hiding_table(photos: Mapping, settings: Mapping[str, Setting], check: Sequence[str] = ("yunet", "mmod"),
                 locate: str = "yunet", counted: Mapping | None = None, progress: bool = False) -> pd.DataFrame:
    """One row per setting (``label -> (method, region, params)``), and a ``clean`` row first: per
    ``check`` detector the faces it still finds (``found <detector>``), of the ``counted`` faces."""
    located = {name: locate_faces(photo, locate, landmarks="auto") for name, photo in photos.items()}
    rows = {"clean": {"method": "", "region": "", "parameters": "",
                      **{f"found {d}": sum(_still_found(p, n, d, counted) for n, p in photos.items()) for d in check}}}
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
                       counted: Mapping | None = None) -> tuple:
    """``(value, faces left per value)``: the first of ``values`` (weakest first) at which no
    ``check`` detector finds a face, or None; and, per value tried, ``check -> faces still found``
    (the search stops at the first protective value)."""
    located = {name: locate_faces(photo, locate, landmarks="auto") for name, photo in photos.items()} \
        if region == "head" else None
    tried = {}
    for value in values:
        left = faces_left(photos, (method, region, {**(fixed or {}), param: value}), check, locate, counted, located)
        tried[value] = left
        if not any(left.values()):
            return value, tried
    return None, tried


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
