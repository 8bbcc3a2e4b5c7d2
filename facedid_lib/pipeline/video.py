"""Videos de-identified frame by frame, written atomically.

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
...     deidentify_video(Path(folder, "clip.avi"), Path(folder, "hidden.avi"), gaussian_blur, sigma=6.0,
...                      fourcc="MJPG", progress=False)
3
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from facedid_lib.io.images import temporary_sibling
from facedid_lib.pipeline.photos import deidentify_photo

__all__ = ["deidentify_video"]


def deidentify_video(src_path, dst_path, method: Callable, detector: str = "hog", size: int = 192,
                     padding: float = 0.4, detector_params: dict | None = None, feather: float = 0.15,
                     device=None, progress: bool = True, fourcc: str = "mp4v", **method_params) -> int:
    """De-identify every frame of a video file with :func:`deidentify_photo`.

    Frames are read with OpenCV and written, at the source's frame rate and size, to a temporary
    file beside ``dst_path`` that is renamed onto it at the end: an interrupted run leaves no
    partial video.

    Parameters
    ----------
    src_path, dst_path : video files; they must differ. The container follows ``dst_path``'s
        suffix (``.mp4``, ``.avi``); ``fourcc`` picks the codec (``"mp4v"``, ``"MJPG"``).
    method, detector, size, padding, detector_params, feather, device, **method_params :
        as for :func:`deidentify_photo`.
    progress : show a progress bar.

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
    if not isinstance(fourcc, str) or len(fourcc) != 4:
        raise ValueError(f"fourcc must be a 4-character codec name such as 'mp4v', got {fourcc!r}")
    capture = cv2.VideoCapture(str(src))
    tmp = temporary_sibling(dst)
    writer = None
    frames = 0
    try:
        if not capture.isOpened():
            raise ValueError(f"src_path: OpenCV cannot open {src} as a video")
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        declared = capture.get(cv2.CAP_PROP_FRAME_COUNT)  # 0 or less where the container does not say
        total = int(declared) if declared > 0 and math.isfinite(declared) else None
        with tqdm(total=total, desc=f"de-identifying {src.name}", unit="frame", disable=not progress) as bar:
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                if writer is None:
                    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*fourcc), fps,
                                             (frame.shape[1], frame.shape[0]))
                    if not writer.isOpened():
                        raise ValueError(f"dst_path: OpenCV cannot write {dst.suffix!r} videos "
                                         f"with codec {fourcc!r}")
                rgb = np.ascontiguousarray(frame[:, :, ::-1])
                new, _ = deidentify_photo(rgb, method, detector, size, padding, detector_params, feather,
                                          device, **method_params)
                writer.write(np.ascontiguousarray(new[:, :, ::-1]))
                frames += 1
                bar.update(1)
        if not frames:
            raise ValueError(f"src_path: no frame could be read from {src}")
        writer.release()
        os.replace(tmp, dst)
    finally:
        capture.release()
        if writer is not None:
            writer.release()
        tmp.unlink(missing_ok=True)
    if total and frames < total:
        warnings.warn(f"src_path: {src} declares {total} frames but only {frames} could be read (a truncated or "
                      f"damaged file): {dst} holds those {frames}", stacklevel=2)
    return frames
