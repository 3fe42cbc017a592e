"""INT8 static quantization of a ``full`` stdc_ros model with ONNX Runtime's quantization tools.

Only the network is quantized: it is cut out of the full graph (``stdc_ros.network_input`` ->
``stdc_ros.network_output``), calibrated on CamVid training frames through the runtime's own pre-processing,
quantized with ``onnxruntime.quantization.quantize_static``, and put back between the untouched float
pre-processing (resize, normalise) and post-processing (argmax, softmax, resize back). The result keeps the
``full`` convention and tensor names, so the onnxruntime backend cuts the (now Q/DQ) network out as before and
runs pre/post-processing in numpy.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..runtime.conventions import FORMAT_FULL, PREFIX, ModelMetadata

log = logging.getLogger(__name__)

FORMATS = ("qdq", "qoperator")
ACTIVATIONS = ("int8", "uint8")  # int8: symmetric, zero point 0 (what TensorRT takes); uint8: asymmetric
CALIBRATIONS = ("minmax", "entropy", "percentile")
CALIBRATION_STRIDE = 8  # frames per calibration pass: bounds the histogram calibrators' memory


@dataclass(frozen=True)
class Int8Recipe:
    """How a network is quantized. Weights are always int8 and symmetric.

    The defaults are the shipped model's recipe, chosen by measurement on CamVid val frames (see the model card).
    """

    fmt: str = "qdq"
    activations: str = "int8"
    per_channel: bool = True
    op_types: tuple[str, ...] = ()  # empty: every op type ONNX Runtime quantizes
    calibration: str = "percentile"
    percentile: float = 99.99  # calibration "percentile" only
    frames: int = 64
    float_nodes: tuple[str, ...] = ()  # node names kept in float

    def __post_init__(self) -> None:
        for value, choices, what in (
            (self.fmt, FORMATS, "fmt"),
            (self.activations, ACTIVATIONS, "activations"),
            (self.calibration, CALIBRATIONS, "calibration"),
        ):
            if value not in choices:
                raise ValueError(f"{what} must be one of {choices}, got {value!r}")
        if self.frames < 1:
            raise ValueError(f"frames must be at least 1, got {self.frames}")

    def describe(self) -> str:
        ops = "+".join(self.op_types) if self.op_types else "every op type ONNX Runtime quantizes"
        calibration = self.calibration + (f" {self.percentile:g}%" if self.calibration == "percentile" else "")
        activations = "int8 symmetric" if self.activations == "int8" else "uint8 asymmetric"
        return (
            f"{self.fmt.upper()}, {'per-channel' if self.per_channel else 'per-tensor'} int8 weights, "
            f"{activations} activations, {ops}, {calibration} calibration on {self.frames} frames"
            + (f", {len(self.float_nodes)} node(s) kept float" if self.float_nodes else "")
        )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["op_types"], data["float_nodes"] = list(self.op_types), list(self.float_nodes)
        return data


@dataclass(frozen=True)
class Int8Result:
    path: Path
    recipe: Int8Recipe
    source: Path
    source_sha256: str
    calibration: str  # where the calibration frames came from, in words
    q_nodes: int
    dq_nodes: int
    quantized_ops: tuple[str, ...]  # op types reading a dequantized tensor: run in int8 by ONNX Runtime


def quantize_full_model(
    source: Path,
    output: Path,
    images: Sequence[Path],
    recipe: Int8Recipe,
    calibration_source: str = "",
    calibration_cache: Path | None = None,
    progress: bool = True,
    extra_metadata: Mapping[str, str] | None = None,
) -> Int8Result:
    """Quantize the network of the full FP32 model ``source`` into ``output`` (written atomically).

    ``images`` are the calibration frames (``recipe.frames`` of them); ``calibration_cache`` (optional) keeps
    the measured tensor ranges in a JSON file, so another recipe with the same calibration method and frames
    skips the calibration passes. ``extra_metadata`` adds ``stdc_ros.<key>`` entries (e.g. the command).
    """
    import onnx
    import onnxruntime
    from onnxruntime.quantization import quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from ..runtime.engine_cache import file_sha256
    from ..runtime.network_cut import extract_network, locate_network
    from .calibration import FrameReader

    source, output = Path(source), Path(output)
    if len(images) != recipe.frames:
        raise ValueError(f"the recipe asks for {recipe.frames} calibration frames, {len(images)} given")
    full = onnx.load_model(str(source))
    meta = ModelMetadata.from_props({p.key: p.value for p in full.metadata_props}, source)
    if meta.format != FORMAT_FULL:
        raise ValueError(f"{source} is a {meta.format} model; INT8 quantization takes a full one")
    if meta.precision != "fp32":
        raise ValueError(f"{source} is already {meta.precision}; quantize the fp32 model")
    net_in, net_out = (
        (meta.network_input, meta.network_output)
        if meta.network_input and meta.network_output
        else locate_network(full)
    )
    log.info("quantizing %s (%s -> %s): %s", source, net_in, net_out, recipe.describe())
    reader = FrameReader(images, net_in, meta.input_size, meta.mean, meta.std, progress=progress)
    with tempfile.TemporaryDirectory(prefix="stdc_int8.") as tmp:
        network, prepared, quantized = (Path(tmp) / name for name in ("net.onnx", "prep.onnx", "q.onnx"))
        onnx.save_model(extract_network(full, net_in, net_out), str(network))
        quant_pre_process(str(network), str(prepared), skip_symbolic_shape=True)
        quiet = logging.getLogger().level
        try:
            logging.getLogger().setLevel(max(quiet, logging.ERROR))  # it warns on every non-quantized tensor
            quantize_static(
                str(prepared),
                str(quantized),
                reader,
                **_quantize_arguments(recipe),
                calibration_cache_path=str(calibration_cache) if calibration_cache else None,
            )
        finally:
            logging.getLogger().setLevel(quiet)
            reader.close()
        q_network = onnx.load_model(str(quantized))
    merged = splice_network(full, q_network, net_in, net_out)
    ops = [n.op_type for n in merged.graph.node]
    dequantized = {out for n in merged.graph.node if n.op_type == "DequantizeLinear" for out in n.output}
    requantized = {n.input[0] for n in merged.graph.node if n.op_type == "QuantizeLinear"}
    quantized_ops = {  # dequantized in, quantized out: ONNX Runtime fuses these into integer kernels
        n.op_type for n in merged.graph.node if set(n.input) & dequantized and set(n.output) & requantized
    }
    result = Int8Result(
        path=output,
        recipe=recipe,
        source=source,
        source_sha256=file_sha256(source),
        calibration=calibration_source or f"{len(images)} frames",
        q_nodes=sum(op == "QuantizeLinear" for op in ops),
        dq_nodes=sum(op == "DequantizeLinear" for op in ops),
        quantized_ops=tuple(sorted(quantized_ops)),
    )
    props = {
        **{p.key: p.value for p in full.metadata_props},
        **dataclasses.replace(meta, precision="int8", network_input=net_in, network_output=net_out).to_props(),
        PREFIX + "int8_recipe": json.dumps(recipe.to_dict(), sort_keys=True),
        PREFIX + "int8_activations": "int8 symmetric" if recipe.activations == "int8" else "uint8 asymmetric",
        PREFIX + "int8_calibration": result.calibration,
        PREFIX + "int8_source_sha256": result.source_sha256,
        PREFIX + "int8_tool": f"onnxruntime {onnxruntime.__version__} quantize_static",
        PREFIX + "int8_ops": json.dumps(list(result.quantized_ops)),
        **{PREFIX + key: value for key, value in (extra_metadata or {}).items()},
    }
    del merged.metadata_props[:]
    for key, value in props.items():
        merged.metadata_props.add(key=key, value=value)
    merged.doc_string = full.doc_string + f"; network quantized to INT8 ({recipe.describe()})"
    onnx.checker.check_model(merged, full_check=True)
    extract_network(merged, net_in, net_out)  # the runtime's cut still works
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = output.with_name(output.name + ".tmp")
    onnx.save_model(merged, str(tmp_out), save_as_external_data=False)
    tmp_out.replace(output)
    size = output.stat().st_size / 1e6
    log.info("wrote %s (%.1f MB, %d Q and %d DQ nodes)", output, size, result.q_nodes, result.dq_nodes)
    return result


def _quantize_arguments(recipe: Int8Recipe) -> dict[str, Any]:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType

    extra: dict[str, Any] = {
        "ActivationSymmetric": recipe.activations == "int8",
        "WeightSymmetric": True,
        "CalibStridedMinMax": None,
    }
    if recipe.calibration == "percentile":
        extra["CalibPercentile"] = recipe.percentile
    stride = max(d for d in range(1, min(CALIBRATION_STRIDE, recipe.frames) + 1) if recipe.frames % d == 0)
    extra["CalibStridedMinMax"] = stride  # ONNX Runtime wants the frame count to be a multiple of the stride
    return {
        "quant_format": QuantFormat.QDQ if recipe.fmt == "qdq" else QuantFormat.QOperator,
        "op_types_to_quantize": list(recipe.op_types) or None,
        "per_channel": recipe.per_channel,
        "activation_type": QuantType.QInt8 if recipe.activations == "int8" else QuantType.QUInt8,
        "weight_type": QuantType.QInt8,
        "nodes_to_exclude": list(recipe.float_nodes) or None,
        "calibrate_method": {
            "minmax": CalibrationMethod.MinMax,
            "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile,
        }[recipe.calibration],
        "extra_options": extra,
    }


def splice_network(full: Any, network: Any, net_in: str, net_out: str) -> Any:
    """``full`` with the nodes between ``net_in`` and ``net_out`` replaced by those of ``network``.

    ``network`` reads ``net_in`` and writes ``net_out`` (the names ``extract_network`` gave it). Pre-processing
    nodes (everything ``net_in`` depends on) and post-processing nodes (everything outside the network) stay as
    they are; where the network recomputes a value pre-processing also makes (the batch size read from the
    graph input, re-pointed at ``net_in`` by the cut), the original is kept.
    """
    import onnx

    producer = {out: node for node in full.graph.node for out in node.output}
    pre = _ancestors(producer, net_in) | {id(producer[net_in])}
    old_net = _ancestors(producer, net_out) | {id(producer[net_out])}
    kept = [n for n in full.graph.node if id(n) in pre or id(n) not in old_net]
    kept_outputs = {out for n in kept for out in n.output}
    new_nodes = [n for n in network.graph.node if not set(n.output) & kept_outputs]
    merged = onnx.ModelProto()
    merged.CopyFrom(full)
    graph = merged.graph
    pre_nodes = [n for n in kept if id(n) in pre]
    post_nodes = [n for n in kept if id(n) not in pre]
    del graph.node[:]
    graph.node.extend([*pre_nodes, *new_nodes, *post_nodes])
    used_by_kept = {name for n in kept for name in n.input}
    used_by_new = {name for n in new_nodes for name in n.input}
    inits = {t.name: t for t in full.graph.initializer if t.name in used_by_kept}
    for t in network.graph.initializer:
        if t.name in inits and inits[t.name] != t:
            raise ValueError(f"the quantized network changed the shared constant {t.name}")
        if t.name in used_by_new:
            inits.setdefault(t.name, t)  # constants pre/post-processing shares with the network stay once
    clash = set(inits) & {out for n in graph.node for out in n.output}
    if clash:
        raise ValueError(f"tensor names of the quantized network clash with the graph's: {sorted(clash)[:5]}")
    del graph.initializer[:]
    graph.initializer.extend(inits.values())
    produced = {out for n in graph.node for out in n.output}
    infos = {v.name: v for v in [*full.graph.value_info, *network.graph.value_info] if v.name in produced}
    del graph.value_info[:]
    graph.value_info.extend(infos.values())
    opsets = {o.domain: o.version for o in full.opset_import}
    for o in network.opset_import:
        opsets[o.domain] = max(opsets.get(o.domain, 0), o.version)
    del merged.opset_import[:]
    merged.opset_import.extend(onnx.helper.make_opsetid(domain, version) for domain, version in opsets.items())
    return merged


def _ancestors(producer: dict[str, Any], name: str) -> set[int]:
    """ids of every node ``name`` depends on (not its own producer)."""
    seen: set[int] = set()
    stack = list(producer[name].input) if name in producer else []
    while stack:
        node = producer.get(stack.pop())
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        stack.extend(node.input)
    return seen


def activation_zero_points(model: Any) -> dict[str, int]:
    """Count of the activation QuantizeLinear zero points by element type: {"int8": n, "uint8": m}, and how many
    of them are non-zero (``"nonzero"``); TensorRT takes int8 zero points that are all 0."""
    import onnx
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    counts = {"int8": 0, "uint8": 0, "nonzero": 0}
    for node in model.graph.node:
        if node.op_type != "QuantizeLinear" or len(node.input) < 3 or node.input[2] not in inits:
            continue
        zero = inits[node.input[2]]
        kind = {onnx.TensorProto.INT8: "int8", onnx.TensorProto.UINT8: "uint8"}.get(zero.data_type)
        if kind:
            counts[kind] += 1
            counts["nonzero"] += int(numpy_helper.to_array(zero).astype(int).any())
    return counts
