"""Faces followed through frames (facedid_lib.track): linking, gaps, extension, smoothing."""

from __future__ import annotations

import numpy as np
import pytest

from facedid_lib.detect.base import Detections
from facedid_lib.track import Track, TrackParams, complete, follow, in_frame, link


def _box(x, y, w=20):
    return [x, y, x + w, y + w]


def _frames(*paths, n):
    """Detections per frame from ``paths``: each a function t -> (x, y) or None (not detected)."""
    out = []
    for t in range(n):
        boxes = [_box(*xy) for xy in (path(t) for path in paths) if xy is not None]
        out.append(Detections(boxes, [0.9] * len(boxes)))
    return out


def test_two_faces_keep_their_tracks_when_they_pass_each_other():
    left = lambda t: (10 + 4 * t, 50)  # noqa: E731
    right = lambda t: (110 - 4 * t, 54)  # noqa: E731
    tracks = link(_frames(left, right, n=25))
    assert len(tracks) == 2
    # in every frame each track's box is the one of its own path (the Hungarian assignment on IoU)
    for track in tracks:
        x0 = track.boxes[:, 0]
        assert np.all(np.diff(x0) > 0) or np.all(np.diff(x0) < 0), x0


def test_a_fast_face_is_followed_within_reach_and_a_far_one_opens_a_track():
    jump = lambda t: (10 + 12 * t, 40)  # noqa: E731  12 px a frame on a 20-px box: IoU 0.25
    assert len(link(_frames(jump, n=6), reach=0.5)) == 6  # 0.6 widths away: a new track every frame
    assert len(link(_frames(jump, n=6), reach=0.5, min_iou=0.2)) == 1
    assert len(link(_frames(jump, n=6), reach=0.7)) == 1


def test_gaps_are_filled_or_split_and_ends_extended_within_the_clip():
    seen = lambda t: (10 + 2 * t, 10) if t not in (4, 5, 6, 12, 13, 14, 15, 16, 17) else None  # noqa: E731
    frames = _frames(seen, n=22)
    linked = link(frames, patience=10)  # after 7 frames the face is 0.7 widths away: 0.1 a frame
    assert len(linked) == 1 and linked[0].observed.sum() == 22 - 9 and np.isnan(linked[0].boxes[4]).all()
    tracks = complete(linked, TrackParams(max_gap=3, extend=2, window=1), n_frames=22)
    # the gap of 3 is filled (linearly: the face moves 2 px a frame); the gap of 6 splits the track
    assert [(t.start, t.end) for t in tracks] == [(0, 13), (16, 21)]
    np.testing.assert_allclose(tracks[0].boxes[:12, 0], 10 + 2 * np.arange(12))
    # extension holds the last face for 2 frames, and stops at the clip's last frame
    np.testing.assert_allclose(tracks[0].boxes[12:, 0], [10 + 2 * 11] * 2)
    assert tracks[1].start == 16 and tracks[1].boxes[0, 0] == 10 + 2 * 18  # 2 frames before its first
    assert not tracks[0].observed[12:].any()
    # in_frame names the tracks that cover a frame, with the frame's row in each
    assert [(i, row) for i, _, row in in_frame(tracks, 13)] == [(0, 13)]
    assert in_frame(tracks, 14) == [] and [(i, row) for i, _, row in in_frame(tracks, 16)] == [(1, 0)]


def test_smoothing_keeps_a_steady_motion_and_damps_jitter():
    rng = np.random.default_rng(0)
    steady = _frames(lambda t: (10 + 3 * t, 30), n=15)
    track, = follow(steady, TrackParams(window=5, extend=0))
    # a centred window keeps a straight motion where it is whole (the first and last 2 frames are
    # averaged over fewer frames, which pulls them towards the inside)
    np.testing.assert_allclose(track.smooth_boxes[2:-2], track.boxes[2:-2])
    shaky = _frames(lambda t: (50 + rng.normal(0, 3), 30), n=40)
    track, = follow(shaky, TrackParams(window=5, extend=0, min_iou=0.1))
    assert np.diff(track.smooth_boxes[:, 0]).std() < 0.6 * np.diff(track.boxes[:, 0]).std()


def test_landmarks_follow_their_boxes():
    frames = _frames(lambda t: (10 + 2 * t, 10) if t != 2 else None, n=5)
    marks = [np.full((len(f), 5, 2), float(t)) for t, f in enumerate(frames)]
    track, = follow(frames, TrackParams(max_gap=2, extend=0, window=1), landmarks=marks)
    np.testing.assert_allclose(track.landmarks[:, 0, 0], [0, 1, 2, 3, 4])  # frame 2 interpolated
    # without landmarks given, a detector's own are used, NaN where it has none
    track, = follow(frames, TrackParams(max_gap=2, extend=0))
    assert np.isnan(track.landmarks).all() and not np.isnan(track.boxes).any()


@pytest.mark.parametrize("kwargs", [dict(max_gap=-1), dict(extend=-2), dict(window=4), dict(window=0),
                                    dict(enlarge=0)])
def test_bad_track_parameters_are_refused(kwargs):
    with pytest.raises(ValueError):
        TrackParams(**kwargs)


def test_bad_link_arguments_are_refused():
    frames = _frames(lambda t: (0, 0), n=2)
    with pytest.raises(ValueError, match="min_iou"):
        link(frames, min_iou=0)
    with pytest.raises(ValueError, match="one entry per frame"):
        link(frames, landmarks=[np.zeros((1, 5, 2))])
    with pytest.raises(ValueError, match="landmark sets"):
        link(frames, landmarks=[np.zeros((2, 5, 2))] * 2)
    assert link([]) == [] and complete([Track(0, np.full((2, 4), np.nan), np.full((2, 5, 2), np.nan),
                                              np.zeros(2, bool))]) == []
