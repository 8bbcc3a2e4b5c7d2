"""Detections of consecutive frames linked into tracks: the Hungarian assignment on box overlap.

In each frame the open tracks (those whose face was last seen at most ``patience`` frames ago) and
the frame's detections are matched one to one by :func:`scipy.optimize.linear_sum_assignment`
(Kuhn-Munkres) on the cost ``1 - IoU`` between a track's last box and a detection. A pair is
allowed when their IoU is at least ``min_iou``, or, for a face that moved fast or waited over a
gap, when the detection's centre lies within ``reach`` times the last box's width, per frame since
the face was last seen, from the last box's centre (such a pair costs more than any overlapping one). A detection left unmatched opens a new
track; a track unmatched for more than ``patience`` frames is closed.

We wrote the assignment ourselves rather than take a tracker library: ``norfair`` needs numpy
below 2 and ``trackers`` the GUI build of OpenCV, which our pins exclude, and an online tracker's
motion model is not needed where the whole clip is there (the gaps are interpolated afterwards,
:func:`facedid_lib.track.complete`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from facedid_lib.detect.base import Detections
from facedid_lib.detect.union import iou
from facedid_lib.track.tracks import Track, TrackParams, complete

__all__ = ["link", "follow"]


def _centre(box) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def _cost(last_box, box, min_iou: float, reach: float) -> float:
    """``1 - IoU`` for an allowed pair; ``1 + distance / width`` for a pair allowed by ``reach`` (in
    widths); inf otherwise."""
    overlap = iou(last_box, box)
    if overlap >= min_iou:
        return 1.0 - overlap
    width = max(last_box[2] - last_box[0], 1e-6)
    distance = float(np.linalg.norm(_centre(box) - _centre(last_box))) / width
    return 1.0 + distance if distance <= reach else np.inf


def link(frames: Sequence[Detections], landmarks: Sequence | None = None, *, min_iou: float = 0.3,
         reach: float = 0.5, patience: int = 10) -> list:
    """Link the detections of ``frames`` (one :class:`~facedid_lib.detect.base.Detections` per
    frame, in order) into :class:`~facedid_lib.track.Track` objects, in the order they start.

    Parameters
    ----------
    frames : the detections of each frame.
    landmarks : per frame, ``(k, 5, 2)`` landmarks of its ``k`` detections (e.g. those of
        :func:`~facedid_lib.align.locate_faces`), or any other per-face array of one trailing shape
        carried along (their chip transforms, ``(k, 2, 3)``); None: each detection's own
        landmarks, NaN where it has none.
    min_iou, reach : when a detection may continue a track (see the module's text; ``reach`` in
        box widths per frame).
    patience : a track unmatched for more frames than this is closed (a gap of up to
        ``patience`` frames can be bridged).

    Returns
    -------
    list of :class:`~facedid_lib.track.Track`, unobserved frames inside a track NaN.
    """
    from scipy.optimize import linear_sum_assignment

    if min_iou <= 0 or min_iou > 1 or reach < 0 or patience < 0:
        raise ValueError(f"need 0 < min_iou <= 1, reach >= 0 and patience >= 0, got {min_iou}, {reach}, {patience}")
    if landmarks is not None and len(landmarks) != len(frames):
        raise ValueError(f"landmarks must have one entry per frame: {len(landmarks)} for {len(frames)} frames")
    shape = (5, 2) if landmarks is None or not len(landmarks) else np.asarray(landmarks[0], dtype=float).shape[1:]
    finished, open_ = [], []  # each: {"frames": [...], "boxes": [...], "marks": [...]}
    for t, found in enumerate(frames):
        boxes = np.asarray(found.boxes, dtype=float).reshape(-1, 4)
        if landmarks is not None:
            marks = np.asarray(landmarks[t], dtype=float).reshape(-1, *shape)
        elif found.landmarks is not None:
            marks = np.asarray(found.landmarks, dtype=float).reshape(-1, 5, 2)
        else:
            marks = np.full((len(boxes), 5, 2), np.nan)
        if len(marks) != len(boxes):
            raise ValueError(f"frame {t}: {len(marks)} landmark sets for {len(boxes)} detections")
        still = [track for track in open_ if t - track["frames"][-1] <= patience + 1]
        finished += [track for track in open_ if t - track["frames"][-1] > patience + 1]
        open_ = still
        taken = set()
        if open_ and len(boxes):
            cost = np.array([[_cost(track["boxes"][-1], box, min_iou, reach * (t - track["frames"][-1]))
                              for box in boxes] for track in open_])
            rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e9))
            for r, c in zip(rows, cols):
                if np.isfinite(cost[r, c]):
                    open_[r]["frames"].append(t)
                    open_[r]["boxes"].append(boxes[c])
                    open_[r]["marks"].append(marks[c])
                    taken.add(c)
        open_ += [{"frames": [t], "boxes": [boxes[c]], "marks": [marks[c]]} for c in range(len(boxes)) if c not in taken]
    tracks = []
    for track in sorted(finished + open_, key=lambda tr: tr["frames"][0]):
        start, end = track["frames"][0], track["frames"][-1]
        n = end - start + 1
        boxes, marks = np.full((n, 4), np.nan), np.full((n, *np.shape(track["marks"][0])), np.nan)
        observed = np.zeros(n, bool)
        for t, box, mark in zip(track["frames"], track["boxes"], track["marks"]):
            boxes[t - start], marks[t - start], observed[t - start] = box, mark, True
        tracks.append(Track(int(start), boxes, marks, observed))
    return tracks


def follow(frames: Sequence[Detections], params: TrackParams = TrackParams(), landmarks: Sequence | None = None) -> list:
    """The completed tracks of the faces in ``frames``: :func:`link` with ``params``' ``min_iou``
    and ``reach`` (and ``max_gap`` as the patience), then :func:`~facedid_lib.track.complete`."""
    linked = link(frames, landmarks, min_iou=params.min_iou, reach=params.reach, patience=params.max_gap)
    return complete(linked, params, len(frames))
