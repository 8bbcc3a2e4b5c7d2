"""A video's frame times, and frames encoded at given times: variable frame rates kept frame by frame.

Phones and drones record at a variable frame rate (a frame every 33 ms, then 50 ms while the sensor
adapts, a dropped frame...). Frames written at one steady rate would drift away from the sound and
change the clip's timing. :func:`frame_times` reads every frame's presentation time from the
packets, without decoding (PyAV); :func:`is_steady` says whether they are evenly spaced at a
rate; :class:`TimedEncoder` encodes frames at given times (PyAV, the same codecs as
:class:`~facedid_lib.io.video.VideoWriter`), copying an audio stream packet by packet beside
them, interleaved in time, so that neither frames nor sound are held whole. ffmpeg reading raw
frames from a pipe (the steady path) cannot take per-frame times, hence PyAV here.

Example
-------
>>> import tempfile
>>> from fractions import Fraction
>>> from pathlib import Path
>>> import numpy as np
>>> times = [Fraction(0), Fraction(1, 30), Fraction(2, 30), Fraction(4, 30), Fraction(8, 30)]
>>> with tempfile.TemporaryDirectory() as folder:
...     with TimedEncoder(Path(folder, "uneven.mp4"), (64, 48), times, "libx264", "yuv420p", {"crf": "17"}) as out:
...         for _ in times:
...             out.write(np.full((48, 64, 3), 128, np.uint8))
...     [t * 30 for t in frame_times(Path(folder, "uneven.mp4"))]
[Fraction(0, 1), Fraction(1, 1), Fraction(2, 1), Fraction(4, 1), Fraction(8, 1)]
>>> is_steady(times, Fraction(30)), is_steady(times[:3], Fraction(30))
(False, True)
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["frame_times", "is_steady", "TimedEncoder", "check_frame"]


def frame_times(path) -> list[Fraction] | None:
    """The presentation time of every frame of the first video stream of the file at ``path``, in
    seconds (exact fractions of the stream's time base), in display order, read from the packets
    without decoding. None where PyAV cannot open the file, it has no video stream, or its packets
    carry no times."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            stamps = sorted(packet.pts for packet in container.demux(stream)
                            if packet.pts is not None and packet.size)
            base = stream.time_base
    except (av.error.FFmpegError, OSError):
        return None
    if not stamps or base is None:
        return None
    return [Fraction(stamp) * Fraction(base) for stamp in stamps]


def is_steady(times: Sequence[Fraction], fps: Fraction, tolerance: float = 0.1) -> bool:
    """Whether ``times`` are evenly spaced at ``fps`` frames a second: every interval between
    neighbours within ``tolerance`` of ``1 / fps`` (the default 10 % lets a container's
    millisecond rounding pass, 33 and 34 ms at 29.97 frames a second, but not a dropped frame)."""
    if len(times) < 2:
        return True
    gaps = np.diff(np.array([float(t) for t in times])) * float(fps)
    return bool(np.all(np.abs(gaps - 1.0) <= tolerance))


def check_frame(frame: np.ndarray, size: tuple[int, int]) -> None:
    """ValueError unless ``frame`` is an ``(H, W, 3)`` uint8 array of ``size`` ``(W, H)``: what a video writer takes."""
    if frame.shape != (size[1], size[0], 3) or frame.dtype != np.uint8:
        raise ValueError(f"frames must be {size[1]} x {size[0]} x 3 uint8, got {frame.shape} {frame.dtype}")


def _time_base(times: Sequence[Fraction]) -> Fraction:
    """A time base in which every one of ``times`` is a whole number, where one of at most 1/90000
    exists; else 1/90000 (times rounded by at most 6 microseconds)."""
    denominator = 1
    for t in times:
        denominator = np.lcm(denominator, Fraction(t).denominator)
        if denominator > 90000:
            return Fraction(1, 90000)
    return Fraction(1, int(denominator))


class TimedEncoder:
    """Frames encoded into ``path``, frame ``i`` shown at ``times[i] - times[0]`` seconds.

    Parameters
    ----------
    path : the file to write (its suffix picks the container).
    size : ``(width, height)`` of every frame.
    times : each frame's presentation time in seconds (a frame past the list follows the last at
        the list's mean interval).
    codec, pix_fmt, options : the encoder (``"libx264"``), its pixel format and its options
        (``{"crf": "17", "preset": "veryfast"}``).
    audio_from : a file whose first audio stream is copied packet by packet (shifted like the frames:
        its time ``times[0]`` becomes 0); None: no sound.

    :meth:`write` takes ``(H, W, 3)`` uint8 RGB frames; :meth:`close` (or leaving the ``with``
    block) flushes the encoder and the remaining sound. An encoder that fails raises ``RuntimeError``.
    """

    def __init__(self, path, size: tuple[int, int], times: Sequence[Fraction], codec: str, pix_fmt: str,
                 options: dict, audio_from=None):
        import av

        if not len(times):
            raise ValueError("times must hold at least one frame's time")
        self.path, self.size = Path(path), (int(size[0]), int(size[1]))
        self._start = Fraction(times[0])
        self._times = [Fraction(t) - self._start for t in times]
        self._step = (self._times[-1] / (len(self._times) - 1)) if len(self._times) > 1 else Fraction(1, 25)
        self._base = _time_base(self._times + [self._step])
        self._index = 0
        self._sound = None
        try:
            self._out = av.open(str(self.path), "w")
            self._video = self._out.add_stream(codec, rate=max(1, round(1 / self._step)) if self._step else 25)
            self._video.width, self._video.height = self.size
            self._video.pix_fmt = pix_fmt
            self._video.time_base = self._base
            self._video.codec_context.time_base = self._base
            options = {str(k): str(v) for k, v in options.items()}
            quality = options.pop("q:v", None)  # ffmpeg's fixed quality: held between qmin and qmax here
            self._video.options = {**options, **({"qmin": quality, "qmax": quality} if quality else {})}
            if audio_from is not None:
                self._open_sound(av, audio_from)
        except av.error.FFmpegError as err:
            self._abandon()
            raise RuntimeError(f"PyAV could not start {self.path}: {err}") from None

    def _open_sound(self, av, audio_from) -> None:
        source = av.open(str(audio_from))
        if not source.streams.audio:
            source.close()
            return
        stream = source.streams.audio[0]
        self._sound = (source, stream, self._out.add_stream_from_template(stream), source.demux(stream))
        self._pending = None

    def _mux_sound(self, until: Fraction | None) -> None:
        """Copy the sound's packets that start before ``until`` seconds (None: all that are left)."""
        if self._sound is None:
            return
        _, stream, out, packets = self._sound
        base = Fraction(stream.time_base)
        shift = round(self._start / base)
        while True:
            packet = self._pending if self._pending is not None else next(packets, None)
            self._pending = None
            if packet is None:
                return
            if packet.pts is None or not packet.size:
                continue
            if until is not None and (packet.pts - shift) * base > until:
                self._pending = packet
                return
            if packet.pts - shift < 0:  # sound before the first frame
                continue
            packet.pts -= shift
            if packet.dts is not None:
                packet.dts = max(0, packet.dts - shift)
            packet.stream = out
            self._out.mux(packet)

    def write(self, frame: np.ndarray) -> None:
        """Encode one ``(H, W, 3)`` uint8 RGB frame of the encoder's size at its time."""
        import av

        check_frame(frame, self.size)
        i = self._index
        time = self._times[i] if i < len(self._times) else self._times[-1] + (i - len(self._times) + 1) * self._step
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        picture.pts, picture.time_base = round(time / self._base), self._base
        try:
            self._mux_sound(time)
            self._out.mux(self._video.encode(picture))
        except av.error.FFmpegError as err:
            raise RuntimeError(f"PyAV could not write {self.path}: {err}") from None
        self._index += 1

    def close(self) -> None:
        """Flush the encoder and the sound that is left, and finish the file."""
        import av

        if self._out is None:
            return
        try:
            self._out.mux(self._video.encode(None))
            self._mux_sound(None)
        except av.error.FFmpegError as err:
            raise RuntimeError(f"PyAV could not finish {self.path}: {err}") from None
        finally:
            self._abandon()

    def _abandon(self) -> None:
        out, self._out = getattr(self, "_out", None), None
        sound, self._sound = self._sound, None
        if sound is not None:
            sound[0].close()
        if out is not None:
            out.close()

    def __enter__(self) -> "TimedEncoder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
