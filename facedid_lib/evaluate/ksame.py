"""k-Same's guarantee measured (chapter 2): no recognizer names a face of a k-Same output with a
rate above ``1/k`` (Newton, Sweeney and Malin, IEEE TKDE 2005, Theorem 1), on *person-specific*
sets, where each person appears once.

Every recognizer of the course attacks, plus the one the theorem is about: the dlib black box with
the *original* faces of the set as its gallery (the attacker who holds the very photos that were
de-identified).
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import pandas as pd
import torch

from facedid_lib import methods
from facedid_lib.data.facesets import FaceSet
from facedid_lib.detect.on_chips import mmod_faceness
from facedid_lib.evaluate.harness import evaluate, identity, sweep
from facedid_lib.metrics.columns import MR
from facedid_lib.recognize.course import dlib_recognizers

#: The name of the attacker whose gallery holds the set's original faces.
ORIGINALS = "dlib, gallery = originals"


def person_specific_sets(faces: FaceSet, n_sets: int | None = None) -> list[FaceSet]:
    """Sets in which every identity appears once: set ``j`` holds the ``j``-th photo of each.

    ``n_sets``: how many (None: as many as the identity with the fewest photos has).

    >>> faces = FaceSet(torch.zeros(6, 3, 4, 4), torch.tensor([0, 1, 0, 1, 0, 1]),
    ...                 torch.tensor([17, 42, 17, 42, 17, 42]), [f"{i}.jpg" for i in range(6)])
    >>> [s.labels.tolist() for s in person_specific_sets(faces)]
    [[0, 1], [0, 1], [0, 1]]
    """
    per_identity = int(torch.bincount(faces.labels).min())
    n_sets = per_identity if n_sets is None else n_sets
    if not 1 <= n_sets <= per_identity:
        raise ValueError(f"n_sets must be between 1 and {per_identity} (the fewest photos of one identity), got {n_sets}")
    labels = faces.labels.cpu()
    return [faces.subset(torch.cat([torch.where(labels == c)[0][j:j + 1] for c in range(faces.n_classes)]))
            for j in range(n_sets)]


@dataclasses.dataclass
class BoundResults:
    """``rows``: one row per set, variant and k (the harness's columns); ``rates``: the mean
    recognition rate (1 - MR) per variant and k over the sets, the bound ``1/k`` beside, SSIM and
    MMOD's faceness; ``attackers``: the recognizers' names, in the columns' order."""

    rows: pd.DataFrame
    rates: pd.DataFrame
    attackers: list[str]


def bound_table(sets: Sequence[FaceSet], recognizers: dict, ks=(2, 3, 5, 10), space=None,
                variants=("k-same-pixel", "k-same-eigen"), device=None) -> BoundResults:
    """Each k-Same variant at every ``k`` on every person-specific set, against ``recognizers`` and
    the dlib black box whose gallery is the set's originals (:data:`ORIGINALS`).

    ``space``: the face space of the eigenface variant (:class:`facedid_lib.methods.reconstruction.FaceSpace`).
    """
    rows = []
    for j, faces_j in enumerate(sets):
        attackers = dict(recognizers)
        attackers[ORIGINALS] = dlib_recognizers(faces_j)["dlib black box"]
        scores = {"MMOD faceness": mmod_faceness()}
        rows.append({"set": j, "variant": "clean", "k": 1,
                     **evaluate(identity, faces_j, attackers, scores=scores, device=device, progress=False)})
        for variant in variants:
            spec = methods.get(variant)
            fixed = {"space": space} if spec.needs else None
            table = sweep(spec, "k", list(ks), faces_j, attackers, fixed=fixed, scores=scores, device=device,
                          progress=False)
            rows += [{"set": j, "variant": variant, "k": k, **row} for k, row in table.to_dict("index").items()]
    results = pd.DataFrame(rows)
    names = list(MR.columns(results.columns))
    for name in names:
        results[f"rate {name}"] = 1 - results[MR.column(name)]
    rates = results.groupby(["variant", "k"])[[f"rate {n}" for n in names] + ["SSIM", "MMOD faceness"]].mean()
    rates.insert(0, "bound 1/k", [1 / k for _, k in rates.index])
    return BoundResults(results, rates, names)


__all__ = ["ORIGINALS", "person_specific_sets", "BoundResults", "bound_table"]
