"""ONNX graph surgery: find the network between pre- and post-processing of ``full`` graphs and cut it out; fix
the batch size; convert to mixed float16; inspect explicit (Q/DQ) quantization.

Needs the ``onnx`` package (and ``onnxconverter-common`` for float16); callers of the cut treat ImportError or
ValueError as "keep running the whole graph".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


def locate_network(model: Any) -> tuple[str, str]:
    """(network input, network output) tensor names of a ``full`` graph exported by ``export_onnx``.

    Pre-processing has no convolution and post-processing starts with the only ArgMax, so the network runs from
    the first Conv's data input to the ArgMax's input. Raises ValueError when the graph does not look like that.
    """
    nodes = list(model.graph.node)
    convs = [n for n in nodes if n.op_type == "Conv"]
    argmaxes = [n for n in nodes if n.op_type == "ArgMax"]
    if not convs or len(argmaxes) != 1:
        raise ValueError(f"expected convolutions and one ArgMax, found {len(convs)} Conv and {len(argmaxes)} ArgMax")
    graph_inputs = {i.name for i in model.graph.input}
    start, end = convs[0].input[0], argmaxes[0].input[0]
    if start in graph_inputs or end in graph_inputs:
        raise ValueError("the network boundary is a graph input: not a full graph")
    return start, end


def extract_network(model: Any, input_name: str, output_name: str) -> Any:
    """The sub-model from ``input_name`` to ``output_name`` as a checked ModelProto.

    The exporter computes the dynamic batch size once, from the graph input, and the network reuses it (for its
    resizes); such ``Shape`` nodes are re-pointed at the network input, which has the same batch size. Any other
    use of a graph input inside the network raises ValueError.
    """
    import onnx
    from onnx.utils import Extractor

    sub = Extractor(model).extract_model([input_name], [output_name])
    outer_inputs = {i.name for i in model.graph.input} - {input_name}
    for node in sub.graph.node:
        for i, name in enumerate(node.input):
            if name not in outer_inputs:
                continue
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if node.op_type != "Shape" or attrs.get("start", 0) != 0 or attrs.get("end") != 1:
                raise ValueError(f"node {node.name} ({node.op_type}) of the network reads the graph input {name}")
            node.input[i] = input_name  # the batch dimension is the same on both
    del sub.metadata_props[:]
    onnx.checker.check_model(sub)
    return sub


def drop_mirror_pass(model: Any) -> Any:
    """A flip-averaged graph (``export_onnx(flip_average=True)``) without its mirrored pass: the network's single
    pass at half the cost, as a new checked ModelProto whose metadata says so.

    The averaged logits are ``Mul(Add(plain, Slice(mirrored)), 0.5)``, the Slice flipping the mirrored pass back.
    The Mul goes and the plain pass's logits take its tensor name, so every reader (post-processing, the graph
    output, the recorded network output) is unchanged; what no output needs any more (the mirrored pass) is pruned.
    ValueError when the graph is not flip-averaged or not shaped like that.
    """
    import onnx
    from onnx.utils import Extractor

    from .conventions import PREFIX

    props = {p.key: p.value for p in model.metadata_props}
    if props.get(PREFIX + "flip_average") != "true":
        raise ValueError("the model is not flip-averaged (stdc_ros.flip_average is not 'true')")
    outputs = [o.name for o in model.graph.output]
    averaged = props.get(PREFIX + "network_output") or (outputs[0] if len(outputs) == 1 else locate_network(model)[1])
    producer = {out: node for node in model.graph.node for out in node.output}
    mul = producer.get(averaged)
    adds = [producer[i] for i in (mul.input if mul is not None and mul.op_type == "Mul" else []) if i in producer]
    adds = [node for node in adds if node.op_type == "Add"]
    if len(adds) != 1:
        raise ValueError(f"{averaged} is not Mul(Add(plain, flipped), 0.5): not a flip-averaged network output")
    plain = [i for i in adds[0].input if i not in producer or producer[i].op_type != "Slice"]
    if len(plain) != 1:
        raise ValueError(f"cannot tell the plain pass from the mirrored one among {list(adds[0].input)}")
    single = onnx.ModelProto()
    single.CopyFrom(model)
    nodes = [node for node in single.graph.node if averaged not in node.output]
    for node in nodes:
        node.input[:] = [averaged if name == plain[0] else name for name in node.input]
        node.output[:] = [averaged if name == plain[0] else name for name in node.output]
    del single.graph.node[:]
    single.graph.node.extend(nodes)
    shapes = [v for v in single.graph.value_info if v.name != plain[0]]  # same shape as the averaged logits
    del single.graph.value_info[:]
    single.graph.value_info.extend(shapes)
    sub = Extractor(single).extract_model([i.name for i in single.graph.input], outputs)
    del sub.metadata_props[:]
    for key, value in {**props, PREFIX + "flip_average": "false"}.items():
        sub.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(sub)
    return sub


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
