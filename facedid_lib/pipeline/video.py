"""Videos de-identified with every face followed through the clip, written atomically.

A video file is there whole, so it is read twice (:func:`deidentify_video`): the first pass
locates the faces of every frame (:func:`facedid_lib.align.locate_faces`) and keeps only their
boxes and chip transforms; :func:`facedid_lib.track.follow` links them into tracks, fills the gaps
where the detector missed a face, extends each track before and after and smooths it; the second
pass covers, in each frame, every track's face over the union of its raw and its smoothed place
(:func:`facedid_lib.pipeline.cover_heads` with ``also=``; an aligned chip from the raw place for
``cover="inner"``). Frames stream through both passes: memory does not grow with the clip. With
``tracking=None`` every frame is de-identified on its own (:func:`deidentify_photo`), as before.

Example
-------
>>> import tempfile
>>> from pathlib import Path
>>> import cv2
>>> from facedid_lib.methods.classical import gaussian_blur
>>> with tempfile.TemporaryDirectory() as folder:       # a clip of three frames: a photo of the offline data
...     clip = cv2.VideoWriter(str(Path(folder, "clip.avi")), cv2.VideoWriter_fourcc(*"MJPG"), 25, (425, 640))
...     for _ in range(3):
...         clip.write(cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
...     clip.release()
...     deidentify_video(Path(folder, "clip.avi"), Path(folder, "hidden.mp4"), gaussian_blur, sigma=6.0,
...                      progress=False)
3
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from facedid_lib.align.chips import AlignedFaces, locate_faces
from facedid_lib.detect.base import Detections
from facedid_lib.io.images import temporary_sibling
from facedid_lib.io.video import VideoWriter, audio_codec, frame_rate, still_image_format
from facedid_lib.methods.registry import REGIONS
from facedid_lib.pipeline.head import cover_heads, head_params
from facedid_lib.pipeline.photos import deidentify_photo
from facedid_lib.track import TrackParams, follow, in_frame

__all__ = ["deidentify_video", "TrackParams"]


def _frames(capture) -> Iterator[np.ndarray]:
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        yield frame


def _placed(tracks, t: int, smooth: bool) -> AlignedFaces:
    """The faces of the tracks that span frame ``t``, at their raw (or smoothed) place."""
    rows = in_frame(tracks, t)
    boxes = [(track.smooth_boxes if smooth else track.boxes)[row] for _, track, row in rows]
    transforms = np.array([(track.smooth_landmarks if smooth else track.landmarks)[row] for _, track, row in rows])
    return AlignedFaces(None, transforms.reshape(-1, 2, 3), Detections(boxes, [1.0] * len(boxes)),
                        np.full((len(rows), 5, 2), np.nan), "tracked")


def deidentify_video(src_path, dst_path, method: Callable, detector: str = "hog", size: int = 192,
                     padding: float = 0.4, detector_params: dict | None = None, feather: float = 0.15,
                     device=None, progress: bool = True, *, keep_audio: bool = False, cover: str = "inner",
                     landmarks: str = "dlib", sensitive: bool = False, head_scale: float = 1.0,
                     tracking: TrackParams | None = TrackParams(), **method_params) -> int:
    """De-identify every face of a video file, followed through the clip (see the module's text).

    Frames are read with OpenCV and encoded by ffmpeg (:class:`~facedid_lib.io.video.VideoWriter`:
    H.264, Motion JPEG in ``.avi``), at the source's frame rate (as a fraction) and size, to a
    temporary file beside ``dst_path`` that is renamed onto it at the end: an interrupted run leaves
    no partial video. The sound is dropped unless ``keep_audio`` (a voice is personal data too).

    Parameters
    ----------
    src_path, dst_path : video files; they must differ. The container follows ``dst_path``'s
        suffix (``.mp4``, ``.mkv``, ``.mov``, ``.avi``).
    keep_audio : copy the source's first audio stream into the output, unchanged (a source without
        sound gives an output without sound).
    method, detector, size, padding, detector_params, feather, device, cover, landmarks, sensitive,
        head_scale, **method_params : as for :func:`deidentify_photo`.
    progress : show a progress bar per pass.
    tracking : how faces are followed (:class:`~facedid_lib.track.TrackParams`; a tracked head is
        covered ``tracking.enlarge`` times larger); None: each frame on its own, a face the
        detector misses in a frame is not covered there.

    Returns
    -------
    The number of frames written.

    Warns
    -----
    UserWarning when fewer frames could be read than the container declares (a truncated or
    damaged file): the output holds the frames that could be read.
    """
    import warnings

    from tqdm.auto import tqdm

    src, dst = Path(src_path), Path(dst_path)
    if not src.is_file():
        raise FileNotFoundError(f"src_path: no video file at {src}")
    if src.resolve() == dst.resolve() or (dst.exists() and os.path.samefile(src, dst)):
        raise ValueError(f"dst_path must differ from src_path ({src}): the source would be overwritten")
    if not dst.parent.is_dir():
        raise FileNotFoundError(f"dst_path: folder {dst.parent} does not exist")
    if cover not in REGIONS:
        raise ValueError(f"cover must be one of {REGIONS}, got {cover!r}")
    still = still_image_format(src)
    if still is not None:
        raise ValueError(f"src_path: {src} is a still {still} image with a video's name: give it an image suffix")
    params = head_params(method, method_params) if cover == "head" else None
    located = dict(landmarks=landmarks, sensitive=sensitive, **(detector_params or {}))
    tracks = None
    if tracking is not None:  # the first pass: every frame's faces, then their tracks
        found = []
        capture = cv2.VideoCapture(str(src))
        try:
            if not capture.isOpened():
                raise ValueError(f"src_path: OpenCV cannot open {src} as a video")
            for frame in tqdm(_frames(capture), total=_declared(capture), desc=f"locating faces in {src.name}",
                              unit="frame", disable=not progress):
                faces = locate_faces(np.ascontiguousarray(frame[:, :, ::-1]), detector, size, padding, **located)
                found.append(faces)
        finally:
            capture.release()
        tracks = follow([f.detections for f in found], tracking, landmarks=[f.transforms for f in found])
        del found
    capture = cv2.VideoCapture(str(src))
    tmp = temporary_sibling(dst)
    writer = None
    frames = 0
    try:
        if not capture.isOpened():
            raise ValueError(f"src_path: OpenCV cannot open {src} as a video")
        fps = frame_rate(capture)
        total = _declared(capture)
        with tqdm(total=total, desc=f"de-identifying {src.name}", unit="frame", disable=not progress) as bar:
            for frame in _frames(capture):
                if writer is None:
                    writer = VideoWriter(tmp, (frame.shape[1], frame.shape[0]), fps,
                                         audio_from=src if keep_audio and audio_codec(src) else None)
                rgb = np.ascontiguousarray(frame[:, :, ::-1])
                if tracks is None:
                    new, _ = deidentify_photo(rgb, method, detector, size, padding, detector_params, feather,
                                              device, cover=cover, landmarks=landmarks, sensitive=sensitive,
                                              head_scale=head_scale, **method_params)
                else:
                    new = _cover_tracked(rgb, tracks, frames, method, params, method_params, cover, size, padding,
                                         feather, head_scale * tracking.enlarge, device)
                writer.write(new)
                frames += 1
                bar.update(1)
        if not frames:
            raise ValueError(f"src_path: no frame could be read from {src}")
        writer.close()
        os.replace(tmp, dst)
    finally:
        capture.release()
        if writer is not None:
            with contextlib.suppress(RuntimeError):
                writer.close()
        tmp.unlink(missing_ok=True)
    if total and frames < total:
        warnings.warn(f"src_path: {src} declares {total} frames but only {frames} could be read (a truncated or "
                      f"damaged file): {dst} holds those {frames}", stacklevel=2)
    return frames


def _declared(capture) -> int | None:
    """The frame count the container declares, or None where it does not say."""
    declared = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    return int(declared) if declared > 0 and math.isfinite(declared) else None


def _cover_tracked(rgb, tracks, t: int, method, params, method_params: dict, cover: str, size: int, padding: float,
                   feather: float, head_scale: float, device):
    """Frame ``t`` with every track's face covered: the head over its raw and smoothed place, or an
    aligned chip (the raw place) de-identified and pasted back."""
    raw = _placed(tracks, t, smooth=False)
    if cover == "head":
        return cover_heads(rgb, raw, method, params, size, padding, feather, head_scale, device,
                           also=_placed(tracks, t, smooth=True))
    return deidentify_photo(rgb, method, size=size, padding=padding, feather=feather, device=device, found=raw,
                            **method_params)[0]
