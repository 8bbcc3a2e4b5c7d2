"""Videos de-identified with every face followed through the clip, written atomically.

A video file is there whole, so it is read twice (:func:`deidentify_video`): the first pass
locates the faces of every frame (:func:`facedid_lib.align.locate_faces`) and keeps only their
boxes and chip transforms; :func:`facedid_lib.track.follow` links them into tracks, fills the gaps
where the detector missed a face, extends each track before and after and smooths it; the second
pass covers, in each frame, every track's face over the union of its raw and its smoothed place
(:func:`facedid_lib.pipeline.cover_heads` with ``also=``; an aligned chip from the raw place for
``cover="inner"``). Frames stream through every pass: memory does not grow with the clip. With
``tracking=None`` every frame is de-identified on its own (:func:`deidentify_photo`), as before.

**One de-identification per person.** A method that draws at random (a ``seed`` parameter: the
noises, the GAN's random target identity) draws once per track, not once per frame: track ``j``
gets the seed :func:`track_seed` ``(seed, j)`` in every frame, so a face does not flicker and an
attacker who averages a track's frames averages the same draw (:func:`facedid_lib.evaluate.averaging.averaging_table`).
A *whole-set* method (k-Same, whose faces are averages over a set) runs over the clip's tracks
instead of its face-frames: a third pass between the two averages each track's aligned chips over
the frames where the detector saw it (:func:`track_faces`), the method runs once on these track
faces, and every frame of track ``j`` gets the ``j``-th result. Run on the face-frames instead,
k-Same's k nearest faces would be the same person in neighbouring frames, and k-anonymity would
be an illusion.

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
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np
import torch

from facedid_lib.align.chips import AlignedFaces, extract_chips, locate_faces
from facedid_lib.align.paste import paste_back
from facedid_lib.core.checks import check_method_output
from facedid_lib.detect.base import Detections
from facedid_lib.io.images import copy_photo, temporary_sibling
from facedid_lib.io.timing import frame_times, is_steady
from facedid_lib.io.video import VideoWriter, audio_codec, frame_rate, still_image_format
from facedid_lib.methods.registry import REGIONS
from facedid_lib.pipeline.head import cover_heads, head_params
from facedid_lib.pipeline.photos import deidentify_photo
from facedid_lib.track import TrackParams, follow, in_frame

__all__ = ["deidentify_video", "locate_tracks", "TrackParams", "track_seed", "draws_at_random", "track_faces"]


def track_seed(seed: int, track: int) -> int:
    """The seed of track number ``track`` when the method's ``seed`` is ``seed``: one draw of
    :class:`numpy.random.SeedSequence` ``([seed, track])``, in ``0 .. 2**31 - 1`` (tracks get
    independent draws; the same clip and seed give the same draws).

    >>> track_seed(0, 0) == track_seed(0, 0), track_seed(0, 0) == track_seed(0, 1)
    (True, False)
    """
    return int(np.random.SeedSequence([int(seed), int(track)]).generate_state(1)[0] & 0x7FFFFFFF)


def _declared_seed(method):
    """The ``seed`` parameter that ``method`` (a registered :class:`~facedid_lib.methods.Method` or
    its command form) declares, or None."""
    method = getattr(method, "method", method)  # CommandOnChips -> Method
    return next((p for p in getattr(method, "params", ()) if p.name == "seed"), None)


def draws_at_random(method) -> bool:
    """Whether ``method`` (a registered :class:`~facedid_lib.methods.Method` or its command form)
    draws at random: it declares a ``seed`` parameter."""
    return _declared_seed(method) is not None


def _seed(method, method_params: dict) -> int | None:
    """The base seed of a method that draws at random (the one given, else its declared default);
    None for one that does not."""
    declared = _declared_seed(method)
    return None if declared is None else int(method_params.get("seed", declared.default))


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
    H.264, Motion JPEG in ``.avi``), at the source's frame rate (as a fraction; a variable rate
    kept frame by frame, each frame at its source time: :func:`~facedid_lib.io.timing.frame_times`)
    and size, to a temporary file beside ``dst_path`` that is renamed onto it at the end: an
    interrupted run leaves no partial video. The sound is dropped unless ``keep_audio`` (a voice is
    personal data too).

    Parameters
    ----------
    src_path, dst_path : video files; they must differ. The container follows ``dst_path``'s
        suffix (``.mp4``, ``.mkv``, ``.mov``, ``.avi``).
    keep_audio : copy the source's first audio stream into the output, unchanged (a source without
        sound gives an output without sound).
    method : as for :func:`deidentify_photo`; one that draws at random draws once per track
        (:func:`track_seed`), a whole-set one (``method.whole_set``: k-Same) runs once over the
        tracks' faces (:func:`track_faces`; it needs ``tracking`` and ``cover="inner"``).
    detector, size, padding, detector_params, feather, device, cover, landmarks, sensitive,
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
    whole_set = bool(getattr(method, "whole_set", False))
    if whole_set and (tracking is None or cover != "inner"):
        raise ValueError("a whole-set method runs once over a video's tracks, on aligned chips: it needs "
                         "tracking and cover='inner'")
    seed = None if whole_set else _seed(method, method_params)
    located = dict(landmarks=landmarks, sensitive=sensitive, **(detector_params or {}))
    tracks = None
    if tracking is not None:  # the first pass: every frame's faces, then their tracks
        tracks = locate_tracks(src, detector, size, padding, tracking, progress, **located)
    faces = _whole_set_faces(src, tracks, method, method_params, size, device, progress) if whole_set else None
    capture = cv2.VideoCapture(str(src))
    tmp = temporary_sibling(dst)
    writer = None
    frames = 0
    try:
        if not capture.isOpened():
            raise ValueError(f"src_path: OpenCV cannot open {src} as a video")
        fps, times = frame_rate(capture), frame_times(src)
        # OpenCV's count is the container's, or its duration times its average rate: a guess where the rate varies
        total = _declared(capture) if times is None or is_steady(times, fps) else len(times)
        with tqdm(total=total, desc=f"de-identifying {src.name}", unit="frame", disable=not progress) as bar:
            for frame in _frames(capture):
                if writer is None:
                    writer = VideoWriter(tmp, (frame.shape[1], frame.shape[0]), fps, times=times,
                                         audio_from=src if keep_audio and audio_codec(src) else None)
                rgb = np.ascontiguousarray(frame[:, :, ::-1])
                if tracks is None:
                    new, _ = deidentify_photo(rgb, method, detector, size, padding, detector_params, feather,
                                              device, cover=cover, landmarks=landmarks, sensitive=sensitive,
                                              head_scale=head_scale, **method_params)
                else:
                    new = _cover_tracked(rgb, tracks, frames, method, params, method_params, cover, size, padding,
                                         feather, head_scale * tracking.enlarge, device, seed, faces)
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


def locate_tracks(src_path, detector: str = "hog", size: int = 192, padding: float = 0.4,
                  tracking: TrackParams = TrackParams(), progress: bool = False, **located) -> list:
    """The first pass of :func:`deidentify_video`: the faces of every frame of the video at
    ``src_path`` located (:func:`~facedid_lib.align.locate_faces` with ``detector``, ``size``,
    ``padding`` and ``located``: ``landmarks``, ``sensitive``, the detector's parameters), then
    followed (:func:`~facedid_lib.track.follow`): the completed tracks, carrying the chip transforms.
    Only the boxes and transforms are kept, never a frame."""
    from tqdm.auto import tqdm

    src = Path(src_path)
    found = []
    capture = cv2.VideoCapture(str(src))
    try:
        if not capture.isOpened():
            raise ValueError(f"src_path: OpenCV cannot open {src} as a video")
        for frame in tqdm(_frames(capture), total=_declared(capture), desc=f"locating faces in {src.name}",
                          unit="frame", disable=not progress):
            found.append(locate_faces(np.ascontiguousarray(frame[:, :, ::-1]), detector, size, padding, **located))
    finally:
        capture.release()
    return follow([f.detections for f in found], tracking, landmarks=[f.transforms for f in found])


def _declared(capture) -> int | None:
    """The frame count the container declares, or None where it does not say."""
    declared = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    return int(declared) if declared > 0 and math.isfinite(declared) else None


def track_faces(frames: Iterable[np.ndarray], tracks, size: int = 192, device=None) -> torch.Tensor:
    """Each track's face: ``(len(tracks), 3, size, size)``, the mean of its aligned chips (its raw
    place) over the frames where a detector saw it (``track.observed``), from ``frames``, the
    clip's (H, W, 3) uint8 RGB frames in order. One running sum per track: memory does not grow
    with the clip."""
    sums = counts = None
    for t, frame in enumerate(frames):
        rows = [(i, track, row) for i, track, row in in_frame(tracks, t) if track.observed[row]]
        if not rows:
            continue
        chips = extract_chips(frame, np.array([track.landmarks[row] for _, track, row in rows]).reshape(-1, 2, 3),
                              size, device)
        if sums is None:
            sums = torch.zeros((len(tracks), *chips.shape[1:]), device=chips.device)
            counts = torch.zeros(len(tracks), device=chips.device)
        index = torch.tensor([i for i, _, _ in rows], device=chips.device)
        sums.index_add_(0, index, chips.float())
        counts.index_add_(0, index, torch.ones(len(rows), device=chips.device))
    if sums is None:
        return torch.zeros((len(tracks), 3, size, size))
    return sums / counts.clamp_min(1)[:, None, None, None]


def _whole_set_faces(src: Path, tracks, method, method_params: dict, size: int, device, progress: bool):
    """A whole-set method run once on the tracks' faces (:func:`track_faces`): one output face per track."""
    from tqdm.auto import tqdm

    if not tracks:
        return None
    capture = cv2.VideoCapture(str(src))
    try:
        frames = tqdm(_frames(capture), total=_declared(capture), desc=f"averaging the tracks of {src.name}",
                      unit="frame", disable=not progress)
        faces = track_faces((np.ascontiguousarray(f[:, :, ::-1]) for f in frames), tracks, size, device)
    finally:
        capture.release()
    try:
        new = method(faces, **method_params)
    except ValueError as err:
        name = getattr(method, "name", getattr(method, "__name__", type(method).__name__))
        raise ValueError(f"{name} runs once over the video's tracks (one face per person) and cannot run on "
                         f"the {len(tracks)} track(s) of {src}: {err}") from err
    return check_method_output(new, faces, "faces")


def _cover_tracked(rgb, tracks, t: int, method, params, method_params: dict, cover: str, size: int, padding: float,
                   feather: float, head_scale: float, device, seed: int | None = None, faces=None):
    """Frame ``t`` with every track's face covered: the head over its raw and smoothed place, or an
    aligned chip (the raw place) de-identified and pasted back. ``seed``: the method draws at
    random, track ``j`` with :func:`track_seed` ``(seed, j)``; ``faces``: a whole-set method's
    output, one face per track."""
    raw = _placed(tracks, t, smooth=False)
    numbers = [i for i, _, _ in in_frame(tracks, t)]
    if cover == "head":
        each = None if seed is None else [{"seed": track_seed(seed, i)} for i in numbers]
        return cover_heads(rgb, raw, method, params, size, padding, feather, head_scale, device,
                           also=_placed(tracks, t, smooth=True), each=each)
    if faces is not None:
        if not numbers:
            return copy_photo(rgb)
        return paste_back(rgb, faces[numbers], raw.transforms, padding, feather, device)
    if seed is not None:
        def per_track(chips):
            return torch.cat([method(chip[None], **{**method_params, "seed": track_seed(seed, i)})
                              for chip, i in zip(chips, numbers)])
        return deidentify_photo(rgb, per_track, size=size, padding=padding, feather=feather, device=device,
                                found=raw)[0]
    return deidentify_photo(rgb, method, size=size, padding=padding, feather=feather, device=device, found=raw,
                            **method_params)[0]
