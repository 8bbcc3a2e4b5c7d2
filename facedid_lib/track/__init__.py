"""Faces followed through a video: detections linked across frames into tracks, gaps filled, ends
extended and boxes smoothed, so that a face missed in one frame or outrunning its box is still covered.

A video file is there whole, so the tracks are made in two passes (:func:`follow`): the faces of
every frame are located first, then linked (:func:`link`: intersection over union and the
Hungarian assignment), then each track is completed (:func:`complete`): gaps of up to ``max_gap``
frames interpolated, ``extend`` frames added before and after, boxes and landmarks smoothed with a
centred window. What is covered in a frame is the union of the raw and the smoothed face (a
smoothed box alone lags behind a moving head).

Example
-------
>>> import numpy as np
>>> from facedid_lib.detect.base import Detections
>>> frames = [Detections([[10 + 2 * t, 10, 30 + 2 * t, 30]], [0.9]) if 1 <= t <= 5 else Detections()
...           for t in range(8)]                 # a face in frames 1 to 5
>>> frames[3] = Detections()                       # missed in frame 3
>>> tracks = follow(frames, TrackParams(max_gap=2, extend=1, window=3))
>>> len(tracks), tracks[0].start, tracks[0].end, tracks[0].observed.astype(int).tolist()
(1, 0, 6, [0, 1, 1, 0, 1, 1, 0])
>>> tracks[0].boxes[3].tolist()                    # frame 3: interpolated between frames 2 and 4
[16.0, 10.0, 36.0, 30.0]
"""

from facedid_lib.track.link import follow, link  # noqa: F401
from facedid_lib.track.tracks import Track, TrackParams, complete, in_frame  # noqa: F401

__all__ = ["Track", "TrackParams", "link", "complete", "follow", "in_frame"]
