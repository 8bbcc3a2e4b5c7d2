"""A reader for dlib's serialized DNN files (``net_type`` objects written by ``dlib::serialize``).

This is a clean-room reader written from the project's format notes
(``shared/docs/dlib-dnn-format.md``, sections 1-3). It turns a ``.dat`` file into plain Python
data: a :class:`DlibNetwork` with the loss, the input layer and the layers in **bottom-to-top**
(input-first) order, every weight a float32 numpy array already in PyTorch's layout. It does not
build a network: each network builder (:mod:`facedid_lib.recognize.dlib_resnet`, the MMOD detector)
hard-codes its own topology, because the file does not store it.

How a file is laid out (format notes, section 2)::

    loss version (1) | loss payload
    one version int per layer wrapper, top -> bottom (tag and skip wrappers included)
    input-layer payload
    layer payloads + trailers, bottom -> top (tag and skip wrappers write nothing here)
    EOF

Because tag and skip wrappers write a version int but no payload, the reader pairs version ints
with payloads using the expected sequence of layer *kinds* (``kinds``, bottom to top) and checks
every payload's type string against it. Without ``kinds`` it infers the sequence from the version
ints (a computational layer is written with version 2, or 3 when it sits on the input; a tag or
skip wrapper with 1); tag and skip cannot be told apart then (``"tag_or_skip"``).

Layer dicts (``DlibNetwork.layers``), keyed by ``"type"``; every one also has ``"name"`` (the
type string in the file, e.g. ``"con_4"``; ``None`` for tag and skip) and ``"version"`` (its
wrapper's version int):

=============  ================================================================================
``con``        ``weight`` (out, in, kh, kw), ``bias`` (out,) or None, ``stride`` (sy, sx),
               ``padding`` (py, px), ``relu`` (bool: a fused ReLU follows, ``con_6`` only)
``affine``     ``gamma``, ``beta``: (C,) in conv mode, (C, H, W) in fc mode; ``mode``
               (``"conv"``/``"fc"``); ``disabled`` (bool: the layer is the identity);
               ``from_bn`` (bool). A batch-norm payload (``bn_con2``/``bn_fc2``) is folded here
               with its stored ``eps`` into gamma' = gamma / sqrt(var + eps),
               beta' = beta - gamma' mean, and has ``from_bn: True`` and ``eps``.
``relu``       ``disabled`` (bool)
``max_pool``   ``window`` (nr, nc; 0 means the whole input: global pooling), ``stride`` (sy, sx),
``avg_pool``   ``padding`` (py, px). Floor-mode output sizes; average pooling counts only
               in-bounds elements.
``add_prev``   nothing: adds the output of a tag below; shapes are zero-extended to the larger
               one (channels at the end, rows at the bottom, columns at the right)
``fc``         ``weight`` (out, in) as ``nn.Linear.weight``, ``bias`` (out,) or None; the input
               is flattened in (C, H, W) order
``tag``        nothing (the file stores no tag id)
``skip``       nothing (the file stores no target tag id)
=============  ================================================================================

Example
-------
>>> import face_recognition_models
>>> net = read_network(face_recognition_models.face_recognition_model_location())
>>> round(net.loss["distance_threshold"], 6), net.input["mean"], len(net.layers)
(0.6, array([122.782, 117.001, 104.298], dtype=float32), 130)
>>> net.layers[0]["type"], net.layers[0]["weight"].shape
('con', (32, 3, 7, 7))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["DlibNetwork", "read_network", "KINDS", "MMOD_KINDS"]

#: The kinds a ``kinds`` sequence may name (``"bn"`` is a synonym of ``"affine"``: dlib's affine
#: layer reads either payload).
KINDS = ("con", "affine", "bn", "relu", "max_pool", "avg_pool", "add_prev", "fc", "tag", "skip")

#: The MMOD face detector's layer kinds, bottom to top (format notes, section 5.1): three
#: downsampling conv/bn/relu blocks, three more at stride 1, and the 1-channel score conv.
MMOD_KINDS = ("con", "bn", "relu") * 6 + ("con",)

_WRAPPERS = ("tag", "skip")

# payload type strings -> kind
_TYPE_STRINGS = {
    "con_4": "con", "con_5": "con", "con_6": "con",
    "affine_": "affine", "affine_2": "affine", "bn_con2": "affine", "bn_fc2": "affine",
    "relu_": "relu", "relu_2": "relu",
    "max_pool_2": "max_pool", "avg_pool_2": "avg_pool",
    "add_prev_": "add_prev",
    "fc_2": "fc", "fc_3": "fc",
}


@dataclass
class DlibNetwork:
    """A dlib network read from a file: see the module docstring for the layer dicts.

    Attributes
    ----------
    loss : dict
        ``{"type": "metric", "name": "loss_metric_2", "margin": 0.04, "distance_threshold": 0.6}``
        or ``{"type": "mmod", "name": "loss_mmod_", "options_version", "windows": [(width,
        height, label), ...], "loss_per_false_alarm", "loss_per_missed_target",
        "truth_match_iou_threshold", "overlaps_nms": (iou, percent_covered),
        "overlaps_ignore": (iou, percent_covered), "assume_image_pyramid",
        "use_bounding_box_regression", "bbr_lambda"}``.
    input : dict
        ``{"type": "rgb_image_sized", "name", "mean": float32 (3,) RGB, "nr", "nc"}`` or
        ``{"type": "rgb_image_pyramid", "name", "mean", "pyramid_padding", "outer_padding"}``.
        Pixels (0..255) become ``(pixel - mean) / 256`` per channel.
    layers : list of dict
        Bottom to top (input first), one per layer wrapper of the file, tags and skips included.
    path : str
        The file read.
    """

    loss: dict
    input: dict
    layers: list = field(default_factory=list)
    path: str = ""

    def types(self) -> list[str]:
        """The layer types, bottom to top."""
        return [layer["type"] for layer in self.layers]

    def count(self, kind: str) -> int:
        """How many layers of type ``kind`` (``"con"``, ``"tag"``, ...)."""
        return sum(layer["type"] == kind for layer in self.layers)

    @property
    def n_params(self) -> int:
        """Number of weights after folding (conv and fc weights and biases, affine gamma and beta)."""
        return sum(int(layer[name].size) for layer in self.layers
                   for name in ("weight", "bias", "gamma", "beta") if layer.get(name) is not None)


# ------------------------------------------------------------------------------------------------
# primitives (format notes, section 1)


class _Reader:
    """Sequential decoder of dlib's primitive encodings over a bytes buffer."""

    def __init__(self, data: bytes, path: str = "<bytes>"):
        self.data = data
        self.pos = 0
        self.path = path

    def fail(self, what: str) -> ValueError:
        return ValueError(f"malformed dlib network file {self.path}: {what} (at byte {self.pos} "
                          f"of {len(self.data)})")

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(f"file ends while reading {what} ({n} bytes needed)")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def int(self, what: str = "an integer") -> int:
        """Sign-magnitude variable-length integer: control byte (low nibble = byte count, bit 7 =
        sign), then the magnitude, least significant byte first."""
        ctrl = self.take(1, what)[0]
        size = ctrl & 0x0F
        if ctrl & 0x70 or not 1 <= size <= 8:
            self.pos -= 1
            raise self.fail(f"bad integer control byte 0x{ctrl:02x} while reading {what}")
        value = int.from_bytes(self.take(size, what), "little")
        return -value if ctrl & 0x80 else value

    def uint(self, what: str = "an unsigned integer") -> int:
        value = self.int(what)
        if value < 0:
            raise self.fail(f"negative value {value} for {what}")
        return value

    def float(self, what: str = "a float") -> float:
        """Portable float: mantissa (int64), then exponent (int16); value = m * 2**e."""
        if self.pos < len(self.data) and self.data[self.pos] & 0x70:
            raise self.fail(f"{what} is in dlib's old ASCII float format, which this reader does "
                            "not support")
        mantissa = self.int(what + " (mantissa)")
        exponent = self.int(what + " (exponent)")
        if exponent == 32000:
            return math.inf
        if exponent == 32001:
            return -math.inf
        if exponent == 32002:
            return math.nan
        if not -32768 <= exponent < 32768 or not -2**63 <= mantissa < 2**63:
            raise self.fail(f"{what} has an out-of-range mantissa {mantissa} or exponent {exponent}")
        return math.ldexp(float(mantissa), exponent)

    def bool(self, what: str = "a bool") -> bool:
        byte = self.take(1, what)
        if byte not in (b"0", b"1"):
            self.pos -= 1
            raise self.fail(f"{what} must be the byte '0' or '1', got {byte!r}")
        return byte == b"1"

    def byte(self, what: str = "a byte") -> int:
        return self.take(1, what)[0]

    def string(self, what: str = "a string") -> str:
        size = self.uint(what + " (length)")
        raw = self.take(size, what)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not an ASCII string: {raw[:40]!r}") from None

    def peek_string(self) -> str | None:
        """The string at the current position, or None where none can be read; never moves."""
        start = self.pos
        try:
            return self.string()
        except ValueError:
            return None
        finally:
            self.pos = start

    def tensor(self, what: str = "a tensor") -> np.ndarray:
        """resizable_tensor: version 2, (n, k, nr, nc), then raw little-endian float32 values."""
        version = self.int(what + " (version)")
        if version != 2:
            raise self.fail(f"{what} has version {version}, expected 2")
        shape = tuple(self.uint(what + " (shape)") for _ in range(4))
        count = int(np.prod(shape, dtype=np.int64))
        raw = self.take(4 * count, f"{what} data, shape {shape}")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def alias_tensor(self, what: str = "an alias tensor") -> tuple[int, int, int, int]:
        """alias_tensor: version 1, then (n, k, nr, nc); no data."""
        version = self.int(what + " (version)")
        if version != 1:
            raise self.fail(f"{what} has version {version}, expected 1")
        return tuple(self.uint(what + " (shape)") for _ in range(4))


# ------------------------------------------------------------------------------------------------
# loss and input payloads (format notes, sections 3.7-3.9)


def _read_loss(r: _Reader) -> dict:
    version = r.int("the loss wrapper's version")
    if version != 1:
        raise r.fail(f"the loss wrapper has version {version}, expected 1 (is this a dlib DNN file?)")
    name = r.string("the loss type")
    if name == "loss_metric_":
        return {"type": "metric", "name": name, "margin": 0.1, "distance_threshold": 0.75}
    if name == "loss_metric_2":
        return {"type": "metric", "name": name, "margin": r.float("the metric margin"),
                "distance_threshold": r.float("the metric distance threshold")}
    if name == "loss_mmod_":
        return {"type": "mmod", "name": name, **_read_mmod_options(r)}
    raise r.fail(f"unsupported loss layer {name!r} (supported: loss_metric_, loss_metric_2, "
                 "loss_mmod_)")


def _read_mmod_options(r: _Reader) -> dict:
    version = r.int("the mmod options version")
    if not 1 <= version <= 4:
        raise r.fail(f"mmod options version {version} is not 1..4")
    out = {"options_version": version}
    if version == 1:
        windows = [(r.uint("the detector window width"), r.uint("the detector window height"), "")]
    else:
        windows = []
        for _ in range(r.uint("the number of detector windows")):
            wversion = r.int("a detector window's version")
            if wversion not in (1, 2):
                raise r.fail(f"detector window version {wversion} is not 1 or 2")
            width, height = r.uint("a window width"), r.uint("a window height")
            label = r.string("a window label") if wversion == 2 else ""
            windows.append((width, height, label))
    out["windows"] = windows
    out["loss_per_false_alarm"] = r.float("loss_per_false_alarm")
    out["loss_per_missed_target"] = r.float("loss_per_missed_target")
    out["truth_match_iou_threshold"] = r.float("truth_match_iou_threshold")
    out["overlaps_nms"] = (r.float("the NMS iou threshold"), r.float("the NMS percent covered"))
    out["overlaps_ignore"] = (r.float("the ignore iou threshold"), r.float("the ignore percent covered"))
    out["assume_image_pyramid"] = r.byte("assume_image_pyramid") if version >= 3 else 1
    if version >= 4:
        out["use_bounding_box_regression"] = r.bool("use_bounding_box_regression")
        out["bbr_lambda"] = r.float("bbr_lambda")
    else:
        out["use_bounding_box_regression"] = False
        out["bbr_lambda"] = None
    return out


def _read_input(r: _Reader) -> dict:
    name = r.string("the input layer type")
    if name == "input_rgb_image_sized":
        mean = np.array([r.float("the red mean"), r.float("the green mean"), r.float("the blue mean")],
                        dtype=np.float32)
        return {"type": "rgb_image_sized", "name": name, "mean": mean,
                "nr": r.uint("the input rows"), "nc": r.uint("the input columns")}
    if name in ("input_rgb_image_pyramid", "input_rgb_image_pyramid2"):
        mean = np.array([r.float("the red mean"), r.float("the green mean"), r.float("the blue mean")],
                        dtype=np.float32)
        padding, outer = 10, 11
        if name == "input_rgb_image_pyramid2":
            padding, outer = r.uint("the pyramid padding"), r.uint("the pyramid outer padding")
        return {"type": "rgb_image_pyramid", "name": name, "mean": mean,
                "pyramid_padding": padding, "outer_padding": outer}
    raise r.fail(f"unsupported input layer {name!r} (supported: input_rgb_image_sized, "
                 "input_rgb_image_pyramid, input_rgb_image_pyramid2)")


# ------------------------------------------------------------------------------------------------
# layer payloads (format notes, sections 3.1-3.6)


def _split_params(r: _Reader, params: np.ndarray, sizes: Sequence[int], what: str) -> list[np.ndarray]:
    flat = params.reshape(-1)
    if flat.size != sum(sizes):
        raise r.fail(f"{what} holds {flat.size} parameters, expected {sum(sizes)} "
                     f"({' + '.join(map(str, sizes))})")
    parts, start = [], 0
    for size in sizes:
        parts.append(flat[start:start + size].copy())
        start += size
    return parts


def _read_multipliers(r: _Reader, what: str, count: int = 4) -> None:
    for _ in range(count):
        r.float(what + " learning-rate/weight-decay multiplier")


def _read_con(r: _Reader, name: str) -> dict:
    params = r.tensor("the conv parameters")
    filters = r.uint("num_filters")
    nr, nc = r.uint("the kernel rows"), r.uint("the kernel columns")
    stride = (r.uint("stride_y"), r.uint("stride_x"))
    padding = (r.uint("padding_y"), r.uint("padding_x"))
    shape = r.alias_tensor("the filter shape")
    r.alias_tensor("the bias shape")
    _read_multipliers(r, "a conv")
    use_bias = r.bool("use_bias") if name in ("con_5", "con_6") else True
    fused_relu = r.bool("use_relu") if name == "con_6" else False
    if shape[0] != filters or shape[2:] != (nr, nc) or min(stride) < 1:
        raise r.fail(f"{name}: filter shape {shape} does not match {filters} filters of {nr}x{nc} "
                     f"or stride {stride} is not positive")
    k_in = shape[1]
    sizes = [filters * k_in * nr * nc] + ([filters] if use_bias else [])
    parts = _split_params(r, params, sizes, f"{name} ({filters}x{k_in}x{nr}x{nc})")
    return {"type": "con", "weight": parts[0].reshape(filters, k_in, nr, nc),
            "bias": parts[1] if use_bias else None, "stride": stride, "padding": padding,
            "relu": fused_relu}


def _read_affine(r: _Reader, name: str) -> dict:
    params = r.tensor("the affine parameters")
    gshape, bshape = r.alias_tensor("the gamma shape"), r.alias_tensor("the beta shape")
    mode = r.int("the affine mode")
    disabled = r.bool("disabled") if name == "affine_2" else False
    if mode not in (0, 1):
        raise r.fail(f"{name}: mode {mode} is not 0 (conv) or 1 (fc)")
    gamma, beta = _split_params(r, params, [int(np.prod(gshape)), int(np.prod(bshape))], name)
    return {"type": "affine", "mode": "conv" if mode == 0 else "fc", "from_bn": False,
            "gamma": _param_shape(gamma, gshape, mode), "beta": _param_shape(beta, bshape, mode),
            "disabled": disabled}


def _param_shape(values: np.ndarray, shape: tuple, mode: int) -> np.ndarray:
    return values.reshape(shape[1]) if mode == 0 else values.reshape(shape[1:])


def _read_bn(r: _Reader, name: str) -> dict:
    params = r.tensor("the batch-norm parameters")
    gshape, bshape = r.alias_tensor("the gamma shape"), r.alias_tensor("the beta shape")
    r.tensor("the batch means")
    r.tensor("the batch inverse standard deviations")
    running_mean = r.tensor("the running means").reshape(-1)
    running_var = r.tensor("the running variances").reshape(-1)
    r.int("num_updates")
    r.int("running_stats_window_size")
    _read_multipliers(r, "a batch-norm")
    eps = r.float("eps")
    mode = 0 if name == "bn_con2" else 1
    gamma, beta = _split_params(r, params, [int(np.prod(gshape)), int(np.prod(bshape))], name)
    if not running_mean.size == running_var.size == gamma.size == beta.size:
        raise r.fail(f"{name}: gamma ({gamma.size}), beta ({beta.size}), running means "
                     f"({running_mean.size}) and variances ({running_var.size}) differ in size")
    # fold in float32 arithmetic, as dlib converts a bn payload when it loads an affine layer
    scale = gamma / np.sqrt(running_var + np.float32(eps))
    shift = beta - scale * running_mean
    return {"type": "affine", "mode": "conv" if mode == 0 else "fc", "from_bn": True, "eps": eps,
            "gamma": _param_shape(scale.astype(np.float32), gshape, mode),
            "beta": _param_shape(shift.astype(np.float32), bshape, mode), "disabled": False}


def _read_relu(r: _Reader, name: str) -> dict:
    return {"type": "relu", "disabled": r.bool("disabled") if name == "relu_2" else False}


def _read_pool(r: _Reader, name: str) -> dict:
    window = (r.uint("the pool rows"), r.uint("the pool columns"))
    stride = (r.uint("the pool stride_y"), r.uint("the pool stride_x"))
    padding = (r.uint("the pool padding_y"), r.uint("the pool padding_x"))
    if min(stride) < 1:
        raise r.fail(f"{name}: stride {stride} is not positive")
    return {"type": "max_pool" if name.startswith("max") else "avg_pool", "window": window,
            "stride": stride, "padding": padding}


def _read_add_prev(r: _Reader, name: str) -> dict:
    return {"type": "add_prev"}


def _read_fc(r: _Reader, name: str) -> dict:
    n_out, n_in = r.uint("num_outputs"), r.uint("num_inputs")
    params = r.tensor("the fc parameters")
    r.alias_tensor("the weight shape")
    r.alias_tensor("the bias shape")
    bias_mode = r.int("bias_mode")
    _read_multipliers(r, "an fc")
    use_bias = r.bool("use_bias") if name == "fc_3" else True
    if bias_mode not in (0, 1):
        raise r.fail(f"{name}: bias_mode {bias_mode} is not 0 (bias) or 1 (no bias)")
    has_bias = bias_mode == 0 and use_bias
    sizes = [n_in * n_out] + ([n_out] if has_bias else [])
    parts = _split_params(r, params, sizes, f"{name} ({n_in} -> {n_out})")
    # stored as (inputs, outputs) with y = x W; torch's Linear wants (outputs, inputs)
    weight = np.ascontiguousarray(parts[0].reshape(n_in, n_out).T)
    return {"type": "fc", "weight": weight, "bias": parts[1] if has_bias else None}


_PAYLOAD_READERS = {
    "con": _read_con, "relu": _read_relu, "max_pool": _read_pool, "avg_pool": _read_pool,
    "add_prev": _read_add_prev, "fc": _read_fc,
}


def _read_layer(r: _Reader, expected: str | None, index: int) -> dict:
    start = r.pos
    name = r.string(f"the type string of layer {index}")
    kind = _TYPE_STRINGS.get(name)
    if kind is None:
        r.pos = start
        raise r.fail(f"layer {index} (bottom-up): unsupported layer type {name!r}; supported: "
                     f"{', '.join(sorted(_TYPE_STRINGS))}")
    if expected is not None and kind != ("affine" if expected == "bn" else expected):
        r.pos = start
        raise r.fail(f"layer {index} (bottom-up) is {name!r}, expected a {expected!r} layer "
                     "(the file does not match the network's layer kinds)")
    if kind == "affine":
        layer = _read_bn(r, name) if name.startswith("bn_") else _read_affine(r, name)
    else:
        layer = _PAYLOAD_READERS[kind](r, name)
    layer["name"] = name
    return layer


def _read_trailer(r: _Reader, version: int, on_input: bool, index: int) -> None:
    """The bookkeeping after a layer's payload (bools, gradient tensors); inference needs none."""
    what = f"layer {index}'s trailer"
    for _ in range(3):
        r.bool(what)
    r.tensor(what + " (x_grad)")
    r.tensor(what + " (cached_output)")
    if on_input:
        r.tensor(what + " (grad_final)")
        if version == 3:
            r.int(what + " (sample_expansion_factor)")
    elif version == 2:
        r.tensor(what + " (params_grad)")


# ------------------------------------------------------------------------------------------------
# the whole file


def read_network(path, kinds: Sequence[str] | None = None) -> DlibNetwork:
    """Read a dlib DNN file (``dlib::serialize(net)``) into a :class:`DlibNetwork`.

    Parameters
    ----------
    path : str or Path
        A ``.dat`` file, e.g. ``dlib_face_recognition_resnet_model_v1.dat`` or
        ``mmod_human_face_detector.dat``.
    kinds : sequence of str, optional
        The expected layer kinds, bottom to top (input first), one per wrapper including tags
        and skips, each from :data:`KINDS` (e.g. :data:`MMOD_KINDS`,
        ``facedid_lib.recognize.dlib_resnet.RESNET_KINDS``). Every payload's type string is checked
        against it, and the number of wrappers must match. None: inferred from the version ints
        (tag and skip wrappers then read ``"tag_or_skip"``).

    Returns
    -------
    DlibNetwork
        Loss, input and layers (bottom to top) with float32 numpy weights in PyTorch layout.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        A malformed, truncated or unsupported file, trailing bytes after the network, or a file
        whose layers do not match ``kinds``; the message names the byte offset.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no dlib network file at {path}")
    if kinds is not None:
        kinds = [str(k) for k in kinds]
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise ValueError(f"kinds: unknown layer kinds {unknown}; use {KINDS}")
        if not kinds or kinds[0] in _WRAPPERS:
            raise ValueError("kinds: the bottom entry must be a computational layer (a tag or skip "
                             "directly on the input layer is not supported)")
    r = _Reader(path.read_bytes(), str(path))
    loss = _read_loss(r)

    # one version int per wrapper, top to bottom, until the input layer's type string
    versions = []
    while True:
        peeked = r.peek_string()
        if peeked is not None and peeked.startswith("input"):
            break
        versions.append(r.int(f"the version of wrapper {len(versions)} (top-down)"))
        if versions[-1] not in (1, 2, 3):
            raise r.fail(f"wrapper {len(versions) - 1} (top-down) has version {versions[-1]}; "
                         "expected 1, 2 or 3")
    versions.reverse()  # bottom to top
    if kinds is None:
        kinds_used = [None if v >= 2 else "tag_or_skip" for v in versions]
    else:
        if len(versions) != len(kinds):
            raise r.fail(f"the file has {len(versions)} layer wrappers, expected {len(kinds)} "
                         "(the file does not match the network's layer kinds)")
        kinds_used = kinds
    if not versions or kinds_used[0] in _WRAPPERS + ("tag_or_skip",):
        raise r.fail("the bottom wrapper must be a computational layer with version 2 or 3")
    if versions[0] not in (2, 3):
        raise r.fail(f"the bottom wrapper has version {versions[0]}, expected 2 or 3")

    net_input = _read_input(r)
    layers = []
    for index, (kind, version) in enumerate(zip(kinds_used, versions)):
        if kind in _WRAPPERS or kind == "tag_or_skip":
            if version != 1:
                raise r.fail(f"wrapper {index} (bottom-up) should be a {kind} with version 1, "
                             f"got version {version}")
            layers.append({"type": kind, "name": None, "version": version})
            continue
        layer = _read_layer(r, kind, index)
        _read_trailer(r, version, index == 0, index)
        layer["version"] = version
        layers.append(layer)
    if r.pos != len(r.data):
        raise r.fail(f"{len(r.data) - r.pos} unread bytes after the last layer (expected EOF)")
    return DlibNetwork(loss=loss, input=net_input, layers=layers, path=str(path))
