"""The physical limit: the network's multiply-accumulates per frame against the machine's measured peaks.

MACs come from the file's graph (``onnx_network_macs``) or the torch network (``network_macs``); the peaks from
``peaks.py`` (the best float32 and int8 matrix-product kernels measured here). Utilisation = achieved operations
per second of a network call (2 per MAC) / the peak of the matching precision at the same thread count: an FP32
file against the float32 peak, an INT8 file against the int8 (VNNI) peak. ``profile_torch`` and
``profile_onnxruntime`` say where the time goes (top operators by self time).
"""

from __future__ import annotations

import json
import logging
import random
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .peaks import Peak

log = logging.getLogger(__name__)


def network_macs(variant: str, size: tuple[int, int], num_classes: int = 11) -> int:
    """MACs of one inference forward pass at ``size`` (conv and linear layers, stdc_ros.network.count_macs)."""
    import torch

    from ..network import build_stdc, count_macs

    with torch.device("meta"):
        model = build_stdc(variant, num_classes).eval()
    return count_macs(model, (1, 3, *size))


# ONNX operators that multiply-accumulate, and the input index of their weight (kernel or right-hand matrix)
_MAC_OPS = {
    "Conv": 1,
    "ConvInteger": 1,
    "QLinearConv": 3,
    "MatMul": 1,
    "MatMulInteger": 1,
    "QLinearMatMul": 3,
    "Gemm": 1,
}


def onnx_network_macs(path: Path) -> int:
    """MACs per frame of the network in an ONNX file (batch 1), counted from its graph.

    For a ``full`` file only the network counts (cut out between the recorded network input and output), so the
    pre/post-processing operators add nothing, as with ``count_macs``. Works for float and quantized files alike
    (Conv behind DequantizeLinear, ConvInteger, QLinearConv): the MACs are the same, only their precision differs.
    """
    import onnx
    from onnx import shape_inference

    from ..runtime.conventions import FORMAT_FULL, ModelMetadata
    from ..runtime.network_cut import extract_network, locate_network

    proto = onnx.load_model(str(path), load_external_data=False)
    meta = ModelMetadata.from_props({p.key: p.value for p in proto.metadata_props}, path)
    if meta.format == FORMAT_FULL:
        names = (meta.network_input, meta.network_output)
        proto = extract_network(proto, *(names if all(names) else locate_network(proto)))
    graph = shape_inference.infer_shapes(proto).graph
    shapes: dict[str, list[int]] = {i.name: list(i.dims) for i in graph.initializer}
    for info in (*graph.input, *graph.value_info, *graph.output):
        dims = info.type.tensor_type.shape.dim
        shapes[info.name] = [d.dim_value if d.HasField("dim_value") else 1 for d in dims]  # batch (symbolic) = 1
    total = 0
    for node in graph.node:
        index = _MAC_OPS.get(node.op_type)
        if index is None:
            continue
        out, weight = shapes.get(node.output[0]), shapes.get(node.input[index])
        if not out or not weight:
            raise ValueError(f"{path}: no shape for {node.op_type} {node.name}; cannot count its MACs")
        if node.op_type.startswith(("Conv", "QLinearConv")):
            per_output = int(np.prod(weight[1:]))  # (in_channels / groups) x kh x kw
        else:
            trans_b = any(a.name == "transB" and a.i for a in node.attribute)
            per_output = weight[-1] if trans_b else weight[-2]  # the reduced dimension K
        total += int(np.prod(out)) * per_output
    return total


@dataclass
class Utilisation:
    """One network timing against the matching peak (FP32 file vs the float32 peak, INT8 vs the int8 peak)."""

    model: str  # "FP32" / "INT8" / a variant name
    size: tuple[int, int]
    backend: str
    precision: str
    threads: int
    gmacs: float
    best_ms: float
    p50_ms: float
    peak: Peak | None

    @property
    def achieved_gops(self) -> float:
        """From the best (least disturbed) call, like the peak: both are what the cores give when left alone."""
        return 2.0 * self.gmacs / (self.best_ms / 1e3)

    def row(self) -> dict[str, Any]:
        peak = self.peak.best_gops if self.peak is not None else None
        return {
            "model": self.model,
            "size": f"{self.size[0]}x{self.size[1]}",
            "backend": self.backend,
            "precision": self.precision,
            "threads": self.threads,
            "gmacs": self.gmacs,
            "best_ms": self.best_ms,
            "p50_ms": self.p50_ms,
            "achieved_gops": self.achieved_gops,
            "peak_gops": peak,
            "peak_kernel": self.peak.label() if self.peak is not None else None,
            "utilisation_pct": utilisation_pct(self.gmacs, self.best_ms, peak),
            "utilisation_p50_pct": utilisation_pct(self.gmacs, self.p50_ms, peak),
            "floor_ms": 2.0 * self.gmacs / peak * 1e3 if peak else None,
        }


def utilisation_pct(gmacs: float, ms: float, peak_gops: float | None) -> float | None:
    """100 x (2 operations per MAC x MACs / time) / peak; None without a peak."""
    if not peak_gops or ms <= 0:
        return None
    return 100.0 * (2.0 * gmacs / (ms / 1e3)) / peak_gops


def torch_network_ms(
    variant: str, size: tuple[int, int], iters: int, threads: int | None = None
) -> tuple[float, float]:
    """(best, p50) ms of the bare eager network forward (random weights; speed does not depend on them)."""
    import torch

    from ..network import build_stdc

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        model = build_stdc(variant, 11).eval()
        x = torch.randn(1, 3, *size)
        samples = []
        with torch.inference_mode():
            model(x)
            for _ in range(iters):
                start = time.perf_counter()
                model(x)
                samples.append((time.perf_counter() - start) * 1000.0)
    finally:
        torch.set_num_threads(previous)
    return float(min(samples)), float(np.median(samples))


def time_onnx_networks(
    models: Sequence[Path], threads: Sequence[int], iters: int, warmup: int = 2, seed: int = 0
) -> dict[tuple[Path, int], tuple[str, list[float]]]:
    """ms per call of each model's network alone in ONNX Runtime at each thread count, interleaved call by call.

    The network is cut out of a ``full`` file as the node's CPU path does (``network_call``); where it cannot be,
    the whole graph runs (the backend label says so). Returns {(model, threads): (backend label, samples)}.
    """
    from ..runtime import create_runtime

    rng = random.Random(seed)
    subjects: list[tuple[tuple[Path, int], str, Callable[[], object]]] = []
    runtimes = []
    try:
        for model in models:
            for t in threads:
                runtime = create_runtime("onnxruntime", model, threads=t)
                runtimes.append(runtime)
                call = runtime.network_call()
                label = "onnxruntime"
                if call is None:
                    image = np.zeros((*runtime.input_size, 3), np.uint8)
                    call, label = (lambda rt=runtime, im=image: rt.infer(im)), "onnxruntime (whole graph)"
                subjects.append(((model, t), label, call))
        for _ in range(warmup):
            for _, _, call in subjects:
                call()
        samples: dict[tuple[Path, int], list[float]] = {key: [] for key, _, _ in subjects}
        for _ in range(iters):
            rng.shuffle(subjects)
            for key, _, call in subjects:
                start = time.perf_counter()
                call()
                samples[key].append((time.perf_counter() - start) * 1000.0)
    finally:
        for runtime in runtimes:
            runtime.close()
    return {key: (label, samples[key]) for key, label, _ in subjects}


# ---------------------------------------------------------------------------------------------- profiles
def profile_torch(
    variant: str = "stdc1",
    size: tuple[int, int] = (360, 480),
    iters: int = 3,
    top: int = 12,
    threads: int | None = None,
) -> str:
    """torch.profiler table of the eager network forward: top operators by self CPU time."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from ..network import build_stdc

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        model = build_stdc(variant, 11).eval()
        x = torch.randn(1, 3, *size)
        with torch.inference_mode():
            model(x)
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(iters):
                    model(x)
    finally:
        torch.set_num_threads(previous)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top)


def profile_onnxruntime(model: Path, iters: int = 5, top: int = 10, threads: int | None = None) -> list[dict]:
    """ONNX Runtime's own profiler on ``model``: total time per operator type over ``iters`` runs, largest first.

    Runs the whole graph (a ``full`` model includes its pre/post-processing operators) as the ONNX Runtime backend
    loads it: a Q/DQ file's int8 activations run as the equal uint8 ones on x86 (``runtime.qdq``).
    """
    import onnxruntime as ort

    from ..runtime.conventions import FORMAT_FULL, ModelMetadata

    source: str | bytes = str(model)
    try:
        import onnx

        from ..runtime.qdq import int8_activation_quantizers, uint8_activations

        proto = onnx.load_model(str(model), load_external_data=False)
        if int8_activation_quantizers(proto):
            source = uint8_activations(proto)[0].SerializeToString()
    except ImportError:  # without onnx the file runs as stored
        pass

    with tempfile.TemporaryDirectory(prefix="stdc_ort_profile_") as tmp:
        options = ort.SessionOptions()
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "ort")
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        session = ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
        meta = ModelMetadata.from_props(session.get_modelmeta().custom_metadata_map, model)
        arg = session.get_inputs()[0]
        if meta.format == FORMAT_FULL:  # a camera frame at the network size: resizes are no-ops, as in the node
            feeds = {arg.name: np.zeros((1, *meta.input_size, 3), np.uint8)}
        else:
            feeds = {arg.name: np.zeros((1, 3, *meta.input_size), np.float32)}
        session.run(None, feeds)
        for _ in range(iters):
            session.run(None, feeds)
        trace = json.loads(Path(session.end_profiling()).read_text())
    totals: dict[str, float] = defaultdict(float)
    for event in trace:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            totals[event.get("args", {}).get("op_name", "?")] += event.get("dur", 0) / 1000.0
    grand = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:top]
    return [{"op": op, "ms_per_run": ms / (iters + 1), "share_pct": 100.0 * ms / grand} for op, ms in ranked]
