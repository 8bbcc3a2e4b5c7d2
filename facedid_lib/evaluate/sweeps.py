"""Chapter 2's table of every classical method along its strength: one :func:`sweep` per method,
the clean faces' row first, all in one table indexed by ``(method, value)``; and
:func:`parrot_table`, the same settings against a gallery de-identified alike.

Each method's parameter goes through the values given (``"blur": ("sigma", [1, 2, 4])``); a
method without one (``"negate": None``) is one row with the value ``"-"``. What a method needs
besides the images (the eigenface space) comes from ``inputs`` through its spec's
:meth:`~facedid_lib.methods.registry.Method.pick`.

>>> labels = torch.tensor([0, 1, 0, 1])
>>> faces = FaceSet(torch.rand(4, 3, 32, 32), labels, labels, ["a", "b", "c", "d"])
>>> first = lambda images: torch.zeros(len(images), dtype=torch.int64)  # names everyone 0
>>> swept = sweep_tables({"blur": ("sigma", [1.0, 4.0]), "negate": None}, faces, {"zero": first},
...                      progress=False)
>>> swept.summary.index.tolist()
[('clean', '-'), ('blur', '1'), ('blur', '4'), ('negate', '-')]
>>> swept.summary["MR zero"].tolist()          # the recognizer ignores the images: half wrong
[0.5, 0.5, 0.5, 0.5]
>>> swept.tables["blur"].index.tolist(), swept.params["negate"]
([1.0, 4.0], None)
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import pandas as pd

from facedid_lib.data.facesets import FaceSet
from facedid_lib.evaluate.harness import evaluate, identity, sweep
from facedid_lib.methods.registry import REGISTRY
from facedid_lib.recognize.course import parrot_recognizers


@dataclasses.dataclass
class SweptMethods:
    """``clean``: the row of the clean faces; ``tables``: method -> its sweep (indexed by the
    parameter's values, or ``"-"``); ``params``: method -> its parameter's name (None for a method
    without one); ``summary``: every row in one table indexed by ``(method, value)``, the clean
    row first and the values printed with ``:g``."""

    clean: dict
    tables: dict
    params: dict
    summary: pd.DataFrame


def _label(value) -> str:
    return value if isinstance(value, str) else f"{value:g}"


def sweep_tables(sweeps: Mapping, faces: FaceSet, recognizers: dict, detectors: dict | None = None,
                 inputs: dict | None = None, **kwargs) -> SweptMethods:
    """:func:`~facedid_lib.evaluate.harness.evaluate` of the clean faces, then
    :func:`~facedid_lib.evaluate.harness.sweep` of each registered method of ``sweeps``
    (``name -> (parameter, values)``, or ``None`` for one row with the method's defaults).

    ``inputs``: what methods may need (``{"space": FaceSpace}``), given to the methods that need
    it; ``kwargs`` go to :func:`~facedid_lib.evaluate.harness.evaluate` (``scores``, ``device``,
    ``progress``...).
    """
    if not sweeps:
        raise ValueError("give at least one method to sweep")
    specs = {name: REGISTRY[name] for name in sweeps}  # an unknown name fails before any work
    for name, sweep_of in sweeps.items():
        if sweep_of is not None and not (isinstance(sweep_of, (tuple, list)) and len(sweep_of) == 2):
            raise ValueError(f"{name}: give (parameter, values) or None, got {sweep_of!r}")
    clean = evaluate(identity, faces, recognizers, detectors, **kwargs)
    tables, params = {}, {}
    for name, spec in specs.items():
        fixed = spec.pick(inputs or {}) or None
        if sweeps[name] is None:
            row = evaluate(spec, faces, recognizers, detectors, params=fixed, **kwargs)
            tables[name], params[name] = pd.DataFrame([row], index=pd.Index(["-"], name="-")), None
        else:
            param, values = sweeps[name]
            tables[name] = sweep(spec, param, values, faces, recognizers, detectors, fixed=fixed, **kwargs)
            params[name] = param
    summary = pd.concat([pd.DataFrame([clean], index=[("clean", "-")]),
                         *(t.set_axis([(name, v) for v in t.index]) for name, t in tables.items())])
    summary.index = pd.MultiIndex.from_tuples([(m, _label(v)) for m, v in summary.index], names=["method", "value"])
    return SweptMethods(clean, tables, params, summary)


def parrot_table(settings, gallery: FaceSet, faces: FaceSet, swept: SweptMethods,
                 recognizers=("dlib black box", "dlib gallery"), **kwargs) -> pd.DataFrame:
    """Parrot recognition (Newton, Sweeney and Malin 2005) beside the clean gallery: for each
    ``(method, {param: value})`` of ``settings``, the dlib recognizers on a gallery de-identified
    by the same method (:func:`~facedid_lib.recognize.parrot_recognizers`) measure ``faces``
    de-identified by it; their MR is printed beside the same setting's MR with the clean gallery,
    read from ``swept`` (:func:`sweep_tables`, which must hold that value).

    One row per setting, labelled ``"<method> <value>"``: ``SSIM``, then for each of
    ``recognizers`` ``MR <name>, clean gallery`` and ``MR <name>, parrot gallery``. ``kwargs`` go
    to :func:`~facedid_lib.evaluate.harness.evaluate`.
    """
    rows = {}
    for name, params in settings:
        if len(params) != 1:
            raise ValueError(f"{name}: give the one swept parameter and its value, got {params!r}")
        value = next(iter(params.values()))
        if name not in swept.tables or value not in swept.tables[name].index:
            raise ValueError(f"the sweep has no row for {name} at {value!r}: sweep that value first")
        spec = REGISTRY[name]
        row = evaluate(spec, faces, parrot_recognizers(spec, gallery, **params), params=params, **kwargs)
        clean_gallery = swept.tables[name].loc[value]
        rows[f"{name} {value}"] = {"SSIM": row["SSIM"]} | {
            column: number for r in recognizers for column, number in (
                (f"MR {r}, clean gallery", clean_gallery[f"MR {r}"]),
                (f"MR {r}, parrot gallery", row[f"MR parrot {r}"]))}
    return pd.DataFrame(rows).T


__all__ = ["SweptMethods", "sweep_tables", "parrot_table"]
