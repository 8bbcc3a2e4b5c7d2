"""De-detection scored as the detection literature scores it: average precision and recall at
IoU 0.5 against boxes counted by eye, before and after PGD on a differentiable detector, for the
attacked detector and every other one (the transfer), with the attack's seconds per photo.

This is the table of Dasari's de-detection slides (:func:`facedid_lib.data.published.dasari_dedetection`:
Faster R-CNN on WIDER Face, AP 0.51 and recall 0.56 on the original photos, 0.07 / 0.19 after PGD
at ε 0.01 with 10 iterations, 0.00 / 0.01 at ε 0.02 with 40), measured on the course's wild photos
(:data:`facedid_lib.data.COUNTED_BOXES`) with :func:`facedid_lib.attacks.dedetection.hide_faces`.
"""

from __future__ import annotations

import time
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from facedid_lib import metrics
from facedid_lib.attacks.dedetection import differentiable_detector, hide_faces, measured_detectors
from facedid_lib.core.config import resolve_device
from facedid_lib.detect import detect, get_detector
from facedid_lib.io.images import to_tensor

__all__ = ["SOURCE_SETTINGS", "precision_table", "beside_source"]

#: The source's attack settings: label -> (ε in [0, 1] units, iterations); None: the clean photos.
SOURCE_SETTINGS: dict[str, tuple[float, int] | None] = {
    "original": None,
    "PGD eps 0.01, 10 iterations": (0.01, 10),
    "PGD eps 0.01, 40 iterations": (0.01, 40),
    "PGD eps 0.02, 40 iterations": (0.02, 40),
}


def precision_table(photos: Mapping, truth: Mapping, settings: Mapping | None = None, attacked: str = "yunet",
                    detectors: Sequence[str] | None = None, progress: bool = True, device=None,
                    **attack) -> pd.DataFrame:
    """AP and recall at IoU 0.5 of each detector on the photos as they are and after each attack.

    Parameters
    ----------
    photos : name -> (H, W, 3) uint8 RGB photo.
    truth : name -> the ground-truth face boxes ``(x0, y0, x1, y1)`` of that photo (every photo of
        ``photos`` needs an entry, an empty one where it shows no face).
    settings : label -> ``(eps, iterations)`` of :func:`~facedid_lib.attacks.dedetection.hide_faces`,
        or None for the photos as they are (default :data:`SOURCE_SETTINGS`).
    attacked : the differentiable detector the attack sees (``"yunet"``, ``"mmod"``).
    detectors : the detectors scored (default: the attacked one first, then every other face
        detector, :func:`~facedid_lib.attacks.dedetection.measured_detectors`), each at its defaults.
    device : where the attack runs; ``attack``: further arguments of ``hide_faces`` (``margin``,
        ``expand``, ``alpha``).

    Returns
    -------
    One row per setting: ``eps``, ``iterations``, ``s / image`` (the attack's mean wall time per
    photo), ``SSIM`` (mean, against the photo as it was), and ``AP <detector>``, ``recall <detector>``.
    """
    settings = dict(SOURCE_SETTINGS if settings is None else settings)
    missing = set(photos) - set(truth)
    if missing:
        raise ValueError(f"photos without ground truth: {sorted(missing)}")
    differentiable_detector(attacked)
    detectors = measured_detectors(attacked) if detectors is None else tuple(detectors)
    for name in detectors:
        get_detector(name)
    device = resolve_device(device)
    names, clean = list(photos), list(photos.values())
    truth = {name: list(truth[name]) for name in names}
    rows = []
    for label, setting in tqdm(settings.items(), desc="de-detection AP", disable=not progress):
        seconds = np.nan
        if setting is None:
            new = clean
        else:
            eps, steps = setting
            start = time.perf_counter()
            new = [hide_faces(photo, eps=eps, steps=int(steps), device=device, detector=attacked, **attack)[0]
                   for photo in clean]
            seconds = (time.perf_counter() - start) / len(clean)
        ssim = float(np.mean([float(metrics.ssim(to_tensor(a, "cpu")[None], to_tensor(b, "cpu")[None]))
                              for a, b in zip(new, clean)]))
        row = {"set": label, "eps": None if setting is None else setting[0],
               "iterations": None if setting is None else int(setting[1]), "s / image": seconds, "SSIM": ssim}
        for det in detectors:
            found = {name: list(detect(photo, det)) for name, photo in zip(names, new)}
            row[f"AP {det}"], row[f"recall {det}"] = metrics.average_precision(found, truth)
        rows.append(row)
    return pd.DataFrame(rows).set_index("set")


def beside_source(table: pd.DataFrame, detector: str = "yunet") -> pd.DataFrame:
    """Our AP, recall and seconds per photo for ``detector`` (a :func:`precision_table`) beside the
    source's (:func:`facedid_lib.data.published.dasari_dedetection`), row by row where the settings
    match (the source's rows that we did not run are left out)."""
    from facedid_lib.data.published import dasari_dedetection

    source = dasari_dedetection()
    rows = [name for name in table.index if name in source.index]
    out = pd.DataFrame({"eps": source.loc[rows, "eps"], "iterations": source.loc[rows, "iterations"],
                        f"AP ({detector}, ours)": table.loc[rows, f"AP {detector}"],
                        "AP (Faster R-CNN, source)": source.loc[rows, "AP"],
                        f"recall ({detector}, ours)": table.loc[rows, f"recall {detector}"],
                        "recall (source)": source.loc[rows, "recall"],
                        "s / image (ours, this CPU)": table.loc[rows, "s / image"],
                        "s / image (source, K80)": source.loc[rows, "s / image (K80)"]})
    return out.rename_axis("set")
