"""An ONNX graph with its block-quantised weights folded back to float32, for ``onnx2torch``.

The OpenCV Zoo's int8 files (:mod:`facedid_lib.weights.opencv_zoo`) keep every weight as
``DequantizeLinear(q, scale, zero_point)`` with ``block_size`` along one axis (ONNX opset 21),
followed by a ``Reshape`` to the convolution's shape. Block dequantisation is

``w[..., i, ...] = (q[..., i, ...] - zero_point[..., i // block_size, ...]) * scale[..., i // block_size, ...]``

along ``axis``. Both nodes act on constants only, so they are computed once here and replaced by
one float initializer: the graph left has no quantised node, and it needs no operator newer than
opset 17, which ``onnx2torch`` 1.5 converts (its ``Resize`` converter stops at opset 18). The
weights are the same numbers OpenCV's DNN module computes when it loads the int8 file, so the
converted network gives OpenCV's outputs (checked for YuNet in :mod:`facedid_lib.detect.yunet_net`).

Example
-------
>>> from facedid_lib.weights.opencv_zoo import YUNET_FILE, model_path
>>> graph = float_graph(model_path(YUNET_FILE))
>>> sorted({node.op_type for node in graph.graph.node})
['Add', 'Conv', 'MaxPool', 'Relu', 'Reshape', 'Resize', 'Sigmoid', 'Transpose']
>>> graph.opset_import[0].version
17
"""

from __future__ import annotations

import numpy as np

__all__ = ["dequantize", "float_graph"]

#: the opset the folded graph declares (every operator left has the same meaning there)
FOLDED_OPSET = 17


def dequantize(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, axis: int, block_size: int) -> np.ndarray:
    """ONNX ``DequantizeLinear`` with blocks: ``(q - zero_point) * scale``, each scale and zero point
    repeated ``block_size`` times along ``axis`` (the last block may be shorter).

    >>> dequantize(np.array([[2, 4, 6]], np.int8), np.array([[0.5, 2.0]], np.float32),
    ...            np.array([[0, 1]], np.int8), axis=1, block_size=2)
    array([[ 1.,  2., 10.]], dtype=float32)
    """
    length = q.shape[axis]

    def spread(values: np.ndarray) -> np.ndarray:
        return np.take(np.repeat(values, block_size, axis=axis), np.arange(length), axis=axis)

    return ((q.astype(np.float32) - spread(zero_point.astype(np.float32))) * spread(scale.astype(np.float32)))


def float_graph(path: str):
    """The ONNX model at ``path`` with every ``DequantizeLinear`` of a constant (and the
    ``Reshape`` of its result) folded into a float32 initializer, at opset :data:`FOLDED_OPSET`.

    The input's batch, height and width become symbolic; a ``Reshape`` whose shape starts with a
    fixed batch of 1 keeps the batch instead (ONNX's ``0``: copy that dimension), so the network
    takes batches of any size.

    Raises ValueError when a quantised node reads something other than constants (nothing to fold).
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    folded: dict[str, np.ndarray] = {}
    kept = []
    for node in graph.node:
        if node.op_type == "DequantizeLinear":
            if not all(name in constants for name in node.input):
                raise ValueError(f"{path}: DequantizeLinear {node.name or node.output[0]!r} reads a computed tensor")
            attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            q, scale, zero = (constants[name] for name in node.input)
            folded[node.output[0]] = dequantize(q, scale, zero, int(attributes.get("axis", 1)),
                                                int(attributes.get("block_size", q.shape[attributes.get("axis", 1)])))
        elif node.op_type == "Reshape" and node.input[0] in folded:
            folded[node.output[0]] = folded.pop(node.input[0]).reshape(constants[node.input[1]])
        else:
            kept.append(node)
    used = {name for node in kept for name in node.input} | {out.name for out in graph.output}
    initializers = [init for init in graph.initializer if init.name in used]
    initializers += [numpy_helper.from_array(value, name) for name, value in folded.items() if name in used]
    reshape_shapes = {node.input[1] for node in kept if node.op_type == "Reshape"}
    for i, init in enumerate(initializers):
        if init.name in reshape_shapes:
            shape = numpy_helper.to_array(init)
            if shape.ndim == 1 and len(shape) > 1 and shape[0] == 1:
                batch_kept = np.concatenate([[0], shape[1:]]).astype(shape.dtype)
                initializers[i] = numpy_helper.from_array(batch_kept, init.name)
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    dims = graph.input[0].type.tensor_type.shape.dim
    for dim, name in zip(dims, ("N", None, "H", "W")):
        if name:
            dim.dim_param = name
    for out in graph.output:
        if out.type.tensor_type.shape.dim:
            out.type.tensor_type.shape.dim[0].dim_param = "N"
            for dim in list(out.type.tensor_type.shape.dim)[1:-1]:
                dim.dim_param = "cells"
    model.opset_import[0].version = FOLDED_OPSET
    onnx.checker.check_model(model)
    return model
