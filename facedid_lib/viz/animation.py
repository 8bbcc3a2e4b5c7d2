"""Videos side by side as one animated GIF, for a page of the static site (no player, no script).

Example
-------
>>> import tempfile
>>> from pathlib import Path
>>> from facedid_lib.data.drone import DroneScene, demo_faces, drone_clip
>>> with tempfile.TemporaryDirectory() as folder:
...     _ = drone_clip(Path(folder, "a.mp4"), DroneScene(frames=6, people=2, size=(160, 96)), faces=demo_faces(2))
...     gif = side_by_side([Path(folder, "a.mp4")] * 2, ["before", "after"], every=2, width=80)
>>> gif[:6], Image.open(io.BytesIO(gif)).n_frames, Image.open(io.BytesIO(gif)).size
(b'GIF89a', 3, (160, 66))
"""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np
from PIL import Image

from facedid_lib.io.video import frame_rate, read_frames

__all__ = ["side_by_side"]

#: Height of the band above each video that holds its label, in pixels.
BAND = 18


def _labelled(frame: np.ndarray, label: str, width: int) -> np.ndarray:
    import cv2

    height = round(frame.shape[0] * width / frame.shape[1])
    small = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
    band = np.full((BAND, width, 3), 255, np.uint8)
    cv2.putText(band, label, (4, BAND - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([band, small])


def side_by_side(videos: Sequence, labels: Sequence[str], every: int = 2, width: int = 240,
                 max_frames: int = 200) -> bytes:
    """An animated GIF (bytes) of ``videos`` side by side, each ``width`` pixels wide under its
    label, every ``every``-th frame (at most ``max_frames``), playing at the first video's speed
    and looping. The videos are read together, one frame at a time; it stops with the shortest."""
    if len(videos) != len(labels) or not videos:
        raise ValueError(f"give one label per video, got {len(videos)} video(s) and {len(labels)} label(s)")
    if every < 1 or width < 16:
        raise ValueError(f"every must be at least 1 and width at least 16, got {every} and {width}")
    pictures = []
    for t, frames in enumerate(zip(*(read_frames(v) for v in videos))):
        if t % every:
            continue
        joined = np.concatenate([_labelled(f, label, width) for f, label in zip(frames, labels)], axis=1)
        pictures.append(Image.fromarray(joined).quantize(colors=255, method=Image.Quantize.MEDIANCUT))
        if len(pictures) == max_frames:
            break
    if not pictures:
        raise ValueError(f"no frame could be read from {videos[0]}")
    fps = float(frame_rate(videos[0]))
    out = io.BytesIO()
    pictures[0].save(out, format="GIF", save_all=True, append_images=pictures[1:], loop=0,
                     duration=round(1000 * every / fps), optimize=True)
    return out.getvalue()
