"""What an adversarial protection of real photos holds against, measured on the written file.

For each setting (a method, the region it covers, its command parameters: the ``facedid``
command's view, :mod:`facedid_lib.evaluate.hiding`) every photo is protected as the command does
it (faces located by YuNet with its own landmarks, ``landmarks="auto"``), then read back as the
JPEG file the command writes (:func:`facedid_lib.io.images.jpeg_round_trip`, quality 95). On
that file:

- each detector counts the faces it still finds (of the faces counted by eye, where the photos
  are the offline ones: :func:`facedid_lib.evaluate.hiding` rules);
- each located face is cut out again where it was and compared with the original face by dlib's
  descriptor (the same person below 0.6, the one :mod:`facedid_lib.methods.adversarial`'s
  ``p-fgvm`` attacks) and by SFace (:func:`facedid_lib.pipeline.verify_photo`: cosine at least
  0.363, OpenCV's threshold; a recognizer neither method attacks).

A protection that fools only the models it attacked is not a protection: the table says which.
"""

from __future__ import annotations

import time
from typing import Mapping, Sequence

import pandas as pd
import torch

from facedid_lib.align.chips import extract_chips, locate_faces
from facedid_lib.data.wild import counted_faces
from facedid_lib.evaluate.hiding import Setting, _still_found
from facedid_lib.io.images import JPEG_QUALITY, jpeg_round_trip
from facedid_lib.methods.registry import get
from facedid_lib.pipeline.head import cover_heads
from facedid_lib.pipeline.photos import deidentify_photo
from facedid_lib.pipeline.verify import verify_photo

__all__ = ["protection_table"]


def _dlib_distances(original, new, found) -> list[float]:
    from facedid_lib.recognize import dlib_resnet

    if not len(found):
        return []
    with torch.no_grad():
        before = dlib_resnet.embed(extract_chips(original, found.transforms, device="cpu"), transforms=found.transforms)
        after = dlib_resnet.embed(extract_chips(new, found.transforms, device="cpu"), transforms=found.transforms)
    return (before - after).norm(dim=1).tolist()


def protection_table(photos: Mapping, settings: Mapping[str, Setting],
                     check: Sequence[str] = ("yunet", "mmod", "hog", "haar"), locate: str = "yunet",
                     quality: int = JPEG_QUALITY, progress: bool = False) -> pd.DataFrame:
    """One row per setting (``label -> (method, region, params)``) after a ``clean`` row (the photos
    as they are, through the same JPEG): ``found <detector>`` (faces it still finds), ``faces``
    (located), ``dlib matches`` and ``SFace matches`` (located faces the recognizer still matches to
    the original), ``s / photo`` (the protection's wall time per photo).
    """
    from facedid_lib.recognize.dlib_resnet import SAME_PERSON_THRESHOLD

    counted = counted_faces(photos)
    located = {name: locate_faces(photo, locate, landmarks="auto") for name, photo in photos.items()}
    rows = {}
    items = [("clean", None), *settings.items()]
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc="protection", unit="setting")
    for label, setting in items:
        row = {"method": "", "region": "", "parameters": "", **{f"found {d}": 0 for d in check},
               "faces": 0, "dlib matches": 0, "SFace matches": 0, "s / photo": float("nan")}
        seconds = 0.0
        for name, photo in photos.items():
            found = located[name]
            start = time.perf_counter()
            if setting is None:
                new = photo
            elif setting[1] == "head":
                new = cover_heads(photo, found, get(setting[0]), setting[2])
            else:
                new, _ = deidentify_photo(photo, get(setting[0]), locate, landmarks="auto", found=found, **setting[2])
            seconds += time.perf_counter() - start
            written = jpeg_round_trip(new, quality)
            for detector in check:
                row[f"found {detector}"] += _still_found(written, name, detector, counted, found.detections.boxes)
            row["faces"] += len(found)
            row["dlib matches"] += sum(d < SAME_PERSON_THRESHOLD for d in _dlib_distances(photo, written, found))
            row["SFace matches"] += verify_photo(photo, written, found, "mmod").still_matching
        if setting is not None:
            method, region, params = setting
            row.update(method=method, region=region, parameters=", ".join(f"{k}={v}" for k, v in params.items()),
                       **{"s / photo": seconds / len(photos)})
        rows[label] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.insert(3, "counted", sum(len(c) for c in counted.values()) if counted else None)
    return table
