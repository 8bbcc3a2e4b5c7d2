"""Does a video pipeline cover every face in every frame? Measured on a clip whose true face boxes
are known (:mod:`facedid_lib.data.drone`).

What a pipeline covers does not depend on the method that fills the cover, so it is measured with
two runs of ``fill`` over the whole head, one black and one white: a pixel is *covered* where the
two outputs differ by more than half the range. A true face-frame (a visible face in one frame) is
*left uncovered* when less than ``covered`` (90 %) of the face, the ellipse inscribed in its true
box (the box's corners are background beside the chin and the temples), is covered. The frame-by-frame
pipeline (``tracking=None``) and the tracked one (:class:`~facedid_lib.track.TrackParams`) run on
the same file with the same detector.

:func:`box_jitter` measures how much the covered boxes shake from frame to frame, as detected and
as smoothed along the tracks (:func:`facedid_lib.pipeline.locate_tracks`); :func:`place_error`,
how far the aligned chip's place strays from the true face, as detected and as smoothed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from facedid_lib.io.video import read_frames
from facedid_lib.methods.registry import get
from facedid_lib.pipeline.video import deidentify_video
from facedid_lib.track import TrackParams

__all__ = ["coverage", "uncovered_faces", "coverage_table", "PIPELINES", "box_jitter", "place_error"]


def coverage(clip, detector: str = "yunet", tracking: TrackParams | None = TrackParams(), head_scale: float = 1.0,
             sensitive: bool = False, device=None) -> list[np.ndarray]:
    """Per frame of ``clip``, the (H, W) boolean mask of the pixels the pipeline covers (see the module's text)."""
    fill = get("fill")
    with tempfile.TemporaryDirectory(prefix="facedid-coverage-") as folder:
        outputs = []
        for colour in ("black", "white"):
            out = Path(folder, f"{colour}.avi")  # Motion JPEG at high quality: a coding error far below 128
            deidentify_video(clip, out, fill, detector, cover="head", landmarks="auto", sensitive=sensitive,
                             head_scale=head_scale, tracking=tracking, progress=False, device=device, colour=colour)
            outputs.append(out)
        return [np.abs(w.astype(np.int16) - b.astype(np.int16)).max(axis=2) > 128
                for b, w in zip(read_frames(outputs[0]), read_frames(outputs[1]))]


def uncovered_faces(masks: Sequence[np.ndarray], truth: Sequence[Mapping], covered: float = 0.9) -> list[tuple]:
    """``(frame, person)`` of every true face-frame less than ``covered`` of whose face (the ellipse
    inscribed in its box, within the frame) is covered."""
    left = []
    for t, (mask, faces) in enumerate(zip(masks, truth)):
        h, w = mask.shape
        ys, xs = np.mgrid[0:h, 0:w]
        for person, (x0, y0, x1, y1) in faces.items():
            cx, cy, a, b = (x0 + x1) / 2, (y0 + y1) / 2, max((x1 - x0) / 2, 0.5), max((y1 - y0) / 2, 0.5)
            face = ((xs + 0.5 - cx) / a) ** 2 + ((ys + 0.5 - cy) / b) ** 2 <= 1
            if not face.any() or mask[face].mean() < covered:
                left.append((t, person))
    return left


#: The pipelines :func:`coverage_table` compares: label -> (tracking, head scale).
PIPELINES = {
    "frame by frame": (None, 1.0),
    "frame by frame, heads x1.4": (None, 1.4),
    "tracked, heads x1.0": (TrackParams(enlarge=1.0), 1.0),
    "tracked (default: heads x1.4)": (TrackParams(), 1.0),
}


def coverage_table(clip, truth: Sequence[Mapping], detectors: Sequence[str] = ("yunet",),
                   pipelines: Mapping = PIPELINES, covered: float = 0.9, device=None) -> pd.DataFrame:
    """One row per detector and pipeline (label -> ``(tracking, head_scale)``, default
    :data:`PIPELINES`): the true face-frames, those left uncovered and their share (%), and the
    share of the frames' pixels covered (%)."""
    total = sum(len(faces) for faces in truth)
    rows = {}
    for detector in detectors:
        for name, (tracking, head_scale) in pipelines.items():
            masks = coverage(clip, detector, tracking, head_scale, device=device)
            left = uncovered_faces(masks, truth, covered)
            rows[detector, name] = {"face-frames": total, "left uncovered": len(left),
                                    "uncovered %": 100 * len(left) / max(total, 1),
                                    "pixels covered %": 100 * float(np.mean([m.mean() for m in masks]))}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["detector", "pipeline"])
    return table


def box_jitter(tracks) -> pd.DataFrame:
    """How much the boxes of ``tracks`` (:func:`facedid_lib.pipeline.locate_tracks`) shake: the mean
    absolute second difference ``|b[t+1] - 2 b[t] + b[t-1]|`` (a steady motion has none) of the box's
    centre (x and y) and of its width, in pixels and in % of the box's width, over every frame whose
    face the detector saw in it and in both neighbours; one row for the boxes as detected (``raw``),
    one for the smoothed ones, and one for what the tracked pipeline covers, the union of the two
    (``covered``: the smallest box holding both).

    >>> import numpy as np
    >>> from facedid_lib.track import Track, TrackParams, complete
    >>> x = 10 + 2 * np.arange(9.0) + np.array([0, 1, 0, 1, 0, 1, 0, 1, 0])   # steady, plus a 1-pixel shake
    >>> track = Track(0, np.stack([x, x * 0, x + 20, x * 0 + 20], 1), np.zeros((9, 5, 2)), np.ones(9, bool))
    >>> box_jitter(complete([track], TrackParams(window=3)))["centre px"].round(2).tolist()
    [1.0, 0.37, 0.34]
    """
    rows = {}
    for kind in ("raw", "smoothed", "covered"):
        centre, width, relative = [], [], []
        for track in tracks:
            boxes = {"raw": track.boxes, "smoothed": track.smooth_boxes,
                     "covered": np.concatenate([np.minimum(track.boxes, track.smooth_boxes)[:, :2],
                                                np.maximum(track.boxes, track.smooth_boxes)[:, 2:]], 1)}[kind]
            seen = track.observed
            inner = np.flatnonzero(seen[1:-1] & seen[:-2] & seen[2:]) + 1
            if not len(inner):
                continue
            second = boxes[inner + 1] - 2 * boxes[inner] + boxes[inner - 1]
            c = np.abs(np.stack([(second[:, 0] + second[:, 2]) / 2, (second[:, 1] + second[:, 3]) / 2], 1)).mean(1)
            w = np.abs(second[:, 2] - second[:, 0])
            size = boxes[inner, 2] - boxes[inner, 0]
            centre += c.tolist()
            width += w.tolist()
            relative += (100 * c / np.maximum(size, 1e-6)).tolist()
        rows[kind] = {"centre px": float(np.mean(centre)) if centre else float("nan"),
                      "width px": float(np.mean(width)) if width else float("nan"),
                      "centre % of width": float(np.mean(relative)) if relative else float("nan"),
                      "frames": len(centre)}
    return pd.DataFrame.from_dict(rows, orient="index")


def place_error(tracks, truth: Sequence[Mapping], size: int = 192) -> pd.DataFrame:
    """How far the aligned chip's place strays from the true face along each track, as detected
    (``raw``: the transforms of :func:`facedid_lib.pipeline.locate_tracks` with chip ``size``) and
    as smoothed (``smoothed``): where the chip's centre falls in the frame, minus the centre of the
    true face box it covers (``truth``, as :func:`facedid_lib.data.drone.drone_clip` gives it),
    in units of that box's width; the offset's mean per track removed (the chip's centre sits at a
    fixed place of the face, not at its box's centre); the root mean square of what is left, in %,
    over the frames where the detector saw the face. Small: the chip moves with the face.

    >>> import numpy as np
    >>> from facedid_lib.track import Track, TrackParams, complete
    >>> x = 100 + 2 * np.arange(30.0)                                  # a face moving steadily right
    >>> shake = np.arange(30) % 2 - 0.5                                # the detector's landmarks shake
    >>> transforms = np.stack([np.array([[1.0, 0, 96 - v], [0, 1, 96 - 50]]) for v in x + shake])
    >>> boxes = np.stack([x - 10, x * 0 + 40, x + 10, x * 0 + 60], 1)
    >>> track = complete([Track(0, boxes, transforms, np.ones(30, bool))], TrackParams(window=3))
    >>> truth = [{"a": (v - 10, 40, v + 10, 60)} for v in x]
    >>> place_error(track, truth)["error % of width"].round(1).tolist()
    [2.5, 1.3]
    """
    def centre(transform):
        full = np.vstack([np.asarray(transform, float).reshape(2, 3), [0.0, 0.0, 1.0]])
        return (np.linalg.inv(full) @ np.array([size / 2, size / 2, 1.0]))[:2]

    rows = {}
    for kind in ("raw", "smoothed"):
        left = []
        for track in tracks:
            marks = track.landmarks if kind == "raw" else track.smooth_landmarks
            offsets = []
            for row in np.flatnonzero(track.observed):
                faces = truth[track.start + row] if track.start + row < len(truth) else {}
                box = track.boxes[row]
                here = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
                matched = [f for f in faces.values()
                           if np.hypot((f[0] + f[2]) / 2 - here[0], (f[1] + f[3]) / 2 - here[1]) <= f[2] - f[0]]
                if not matched:
                    continue
                f = min(matched, key=lambda f: np.hypot((f[0] + f[2]) / 2 - here[0], (f[1] + f[3]) / 2 - here[1]))
                offsets.append((centre(marks[row]) - [(f[0] + f[2]) / 2, (f[1] + f[3]) / 2]) / (f[2] - f[0]))
            if len(offsets) > 1:
                offsets = np.array(offsets)
                left += np.linalg.norm(offsets - offsets.mean(0), axis=1).tolist()
        rows[kind] = {"error % of width": 100 * float(np.sqrt(np.mean(np.square(left)))) if left else float("nan"),
                      "face-frames": len(left)}
    return pd.DataFrame.from_dict(rows, orient="index")
