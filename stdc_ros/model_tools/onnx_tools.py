"""ONNX graph work of the model tooling: fix the batch size; convert to mixed float16; inspect and fold explicit
(Q/DQ) quantization. Cutting the network out of a ``full`` graph is inference's (``stdc_ros.runtime.network_cut``).

Needs the ``onnx`` package (and ``onnxconverter-common`` for float16).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


def fix_batch(model: Any, batch: int = 1) -> Any:
    """A copy of ``model`` whose inputs and outputs have the leading (batch) dimension fixed to ``batch``.

    TensorRT then builds for exactly (batch, 3, h, w) without an optimisation profile. Intermediate shape hints
    (``value_info``) still name the symbolic batch, so they are dropped; every consumer re-infers them.
    """
    import onnx

    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for value in [*fixed.graph.input, *fixed.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 0:
            raise ValueError(f"{value.name} has no shape: cannot fix its batch dimension")
        dims[0].Clear()
        dims[0].dim_value = int(batch)
    del fixed.graph.value_info[:]
    return fixed


# Kept in float32 by ``convert_float16`` on top of the converter's own block list (Resize, Range, TopK, ...):
# reductions over whole feature maps and exponentials, where float16's 11-bit mantissa and 65504 range bite.
FP16_KEEP_FP32_OPS = ("ReduceMean", "ReduceSum", "ReduceL2", "ReduceLogSumExp", "Softmax", "LogSoftmax", "Exp", "Pow")
FP16_CONVERTER = "onnxconverter-common"


def float16_converter_version() -> str:
    """The installed converter's version (part of an fp16 engine's cache key); ImportError when missing."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(FP16_CONVERTER)
    except PackageNotFoundError as exc:
        raise ImportError(
            f"fp16 engines are built from a float16 conversion of the network: pip install {FP16_CONVERTER}"
        ) from exc


def convert_float16(model: Any, keep_fp32_ops: tuple[str, ...] = FP16_KEEP_FP32_OPS) -> Any:
    """``model`` in mixed precision: float16 weights and arithmetic, float32 graph inputs and outputs, and the
    numerically sensitive ops (``keep_fp32_ops`` plus the converter's defaults) in float32, as a checked proto.

    Uses onnxconverter-common's ``convert_float_to_float16(keep_io_types=True)``. Its cast clean-up fails when a
    kept-float32 op (e.g. the final Resize) writes a graph output, so each output is first routed through an
    Identity, which converts to float16 and back like any other node and costs nothing in TensorRT.
    """
    import warnings

    import onnx

    float16_converter_version()  # a clear ImportError before the converter's own
    from onnxconverter_common import float16

    guarded = onnx.ModelProto()
    guarded.CopyFrom(model)
    for output in guarded.graph.output:
        inner = output.name + "__fp16_guard"
        for node in guarded.graph.node:
            node.output[:] = [inner if name == output.name else name for name in node.output]
            node.input[:] = [inner if name == output.name else name for name in node.input]
        guarded.graph.node.append(onnx.helper.make_node("Identity", [inner], [output.name], name=inner))
    block = sorted({*float16.DEFAULT_OP_BLOCK_LIST, *keep_fp32_ops})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        converted = float16.convert_float_to_float16(guarded, keep_io_types=True, op_block_list=block)
    clamped = sum("truncated" in str(w.message) for w in caught)
    if clamped:  # weights below float16's smallest normal: effectively zero in float16 anyway
        log.debug("float16 conversion clamped %d tiny weights to the float16 range", clamped)
    onnx.checker.check_model(converted)
    return converted


def has_float16(model: Any) -> bool:
    """Whether ``model`` already computes in float16 (float16 weights or casts to float16)."""
    import onnx

    float16 = onnx.TensorProto.FLOAT16
    if any(t.data_type == float16 for t in model.graph.initializer):
        return True
    for node in model.graph.node:
        if node.op_type == "Cast" and any(a.name == "to" and a.i == float16 for a in node.attribute):
            return True
    return False


@dataclass(frozen=True)
class QdqReport:
    """The explicit quantization (QuantizeLinear / DequantizeLinear pairs) of a model."""

    quantize_nodes: int
    dequantize_nodes: int
    zero_point_types: frozenset[str]  # element types of the quantized tensors: "int8", "uint8", ...
    nonzero_zero_points: int  # Q/DQ nodes whose zero point is not all zeros (asymmetric)

    @property
    def quantized(self) -> bool:
        return self.quantize_nodes + self.dequantize_nodes > 0

    def tensorrt_problem(self) -> str | None:
        """Why TensorRT cannot build this Q/DQ graph (it takes int8 with zero point 0 only), or None."""
        if not self.quantized:
            return None
        other = sorted(self.zero_point_types - {"int8"})
        if other:
            # int32 is ONNX Runtime's quantized Conv bias, which TensorRT's parser rejects (bias stays float)
            bias = " (int32: quantized biases; quantize with QuantizeBias=False)" if "int32" in other else ""
            return f"its Q/DQ nodes quantize to {', '.join(other)}{bias}; TensorRT takes int8 only"
        if self.nonzero_zero_points:
            return f"{self.nonzero_zero_points} Q/DQ nodes have a non-zero zero point; TensorRT needs symmetric int8"
        return None


def qdq_report(model: Any) -> QdqReport:
    """Counts and zero points of the Q/DQ nodes in ``model`` (zero points from initializers or Constant nodes)."""
    import onnx
    from onnx import numpy_helper

    constants: dict[str, Any] = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    constants[node.output[0]] = attr.t
    counts = {"QuantizeLinear": 0, "DequantizeLinear": 0}
    types: set[str] = set()
    nonzero = 0
    for node in model.graph.node:
        if node.op_type not in counts:
            continue
        counts[node.op_type] += 1
        zero_point = constants.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if zero_point is None:
            if node.op_type == "QuantizeLinear":
                types.add("uint8")  # no zero point: ONNX quantizes to uint8
            continue
        types.add(onnx.helper.tensor_dtype_to_np_dtype(zero_point.data_type).name)
        if numpy_helper.to_array(zero_point).any():
            nonzero += 1
    return QdqReport(counts["QuantizeLinear"], counts["DequantizeLinear"], frozenset(types), nonzero)


def fold_int32_dequantize(model: Any) -> tuple[Any, int]:
    """(copy of ``model`` with every DequantizeLinear of a constant int32 tensor replaced by its float values, count).

    ONNX Runtime's ``quantize_static`` stores Conv biases as int32 behind a DequantizeLinear; TensorRT's parser
    rejects that ("only activation types allowed as input") and wants float biases, which it fuses into its int8
    convolutions itself. ``(q - zero_point) * scale`` computed here in float32 is exactly what the node computes,
    so the graph's results do not change.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    constants = {t.name: t for t in graph.initializer}
    kept, folded = [], []
    for node in graph.node:
        names = [n for n in node.input if n]
        quantized = constants.get(names[0]) if node.op_type == "DequantizeLinear" else None
        if (
            quantized is None
            or quantized.data_type != onnx.TensorProto.INT32
            or not all(n in constants for n in names[1:])
        ):
            kept.append(node)
            continue
        values = numpy_helper.to_array(quantized).astype(np.float32)
        scale = numpy_helper.to_array(constants[names[1]]).astype(np.float32)
        zero = numpy_helper.to_array(constants[names[2]]).astype(np.float32) if len(names) > 2 else np.float32(0)
        if scale.ndim == 1 and values.ndim > 1:  # per-axis: line the scale up with its axis
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1) % values.ndim
            shape = [1] * values.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), np.reshape(zero, shape) if np.ndim(zero) else zero
        folded.append(numpy_helper.from_array(((values - zero) * scale).astype(np.float32), node.output[0]))
    if not folded:
        return out, 0
    del graph.node[:]
    graph.node.extend(kept)
    used = {name for node in kept for name in node.input}
    remaining = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend([*remaining, *folded])
    onnx.checker.check_model(out)
    return out, len(folded)
