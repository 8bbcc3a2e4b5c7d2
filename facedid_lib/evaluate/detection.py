"""Detectors scored against faces counted by hand (chapter 1): hits and false alarms per photo,
and how they trade off along a detector's threshold.

A detection is a *hit* when its box holds the centre of a counted face not yet taken by a
better-scoring detection (:func:`facedid_lib.detect.match_faces`); every other detection is a
*false alarm*. Recall is hits / counted faces.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from facedid_lib.detect import detect, match_faces


def hits_and_false_alarms(detections: Mapping[str, Sequence], counted: Mapping[str, list]) -> tuple[int, int]:
    """``(hits, false alarms)`` summed over the photos of ``detections`` (name -> detections)."""
    scores = [match_faces(found, counted[name]) for name, found in detections.items()]
    return sum(s[0] for s in scores), sum(s[1] for s in scores)


def detection_table(photos: Mapping, detectors: Sequence[str], counted: Mapping | None = None,
                    sensitive: bool = False):
    """Each detector run once on every photo: ``(table, found)``.

    ``table``: one row per photo and a ``total`` row; per detector the number of detections and,
    where ``counted`` (name -> centres) is given, its hits and false alarms, and the ``counted``
    faces. ``found``: detector -> photo name -> detections, for the figures. ``detectors`` may name
    unions (``"yunet+mmod"``); ``sensitive`` runs each at its lower thresholds.
    """
    found = {det: {name: detect(photo, det, sensitive=sensitive) for name, photo in photos.items()}
             for det in detectors}
    rows = []
    for name in photos:
        row = {"photo": name, "counted": len(counted[name]) if counted else None}
        for det in detectors:
            row[det] = len(found[det][name])
            if counted:
                hits, false, _ = match_faces(found[det][name], counted[name])
                row[f"{det} hits"], row[f"{det} false"] = hits, false
        rows.append(row)
    table = pd.DataFrame(rows).set_index("photo")
    table.loc["total"] = table.sum()
    return table, found


def parameter_sweep(photos: Mapping, counted: Mapping, detector: str, param: str, values) -> np.ndarray:
    """``(len(values), 2)``: hits and false alarms with the detector run anew at each value of
    ``param`` (e.g. Haar's ``min_neighbors``)."""
    return np.array([hits_and_false_alarms({n: detect(p, detector, **{param: v}) for n, p in photos.items()},
                                           counted) for v in values])


def score_sweep(photos: Mapping, counted: Mapping, detector: str, thresholds, **loose) -> np.ndarray:
    """``(len(thresholds), 2)``: hits and false alarms keeping the detections that score at least
    each threshold; the detector runs once, with the loose parameters ``loose`` (a threshold below
    the smallest), and its detections are filtered by score."""
    found = {n: detect(p, detector, **loose) for n, p in photos.items()}
    return np.array([hits_and_false_alarms({n: [d for d in ds if d.score >= t] for n, ds in found.items()}, counted)
                     for t in thresholds])


__all__ = ["hits_and_false_alarms", "detection_table", "parameter_sweep", "score_sweep"]
