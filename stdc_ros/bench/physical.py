"""The physical limit: the network's multiply-accumulates per frame against the machine's measured matmul peak.

``matmul_peak`` times a large float32 matrix product in torch at the thread count of the runtimes (numpy's BLAS,
which keeps its own thread count, as a whole-machine reference); ``utilisation`` = achieved FLOP/s of a network
call (2 FLOPs per MAC) / peak. ``profile_torch`` and ``profile_onnxruntime`` say where the time goes (top
operators by self time).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def _best_and_median(fn: Callable[[], object], repeats: int, warmup: int = 1) -> tuple[float, float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), float(np.median(times))


@dataclass(frozen=True)
class Peak:
    library: str
    threads: int
    n: int
    best_gflops: float
    median_gflops: float


def matmul_peak(n: int = 2048, repeats: int = 8, threads: int | None = None, numpy: bool = False) -> list[Peak]:
    """float32 n x n x n matrix product: GFLOP/s (best and median of ``repeats``) in torch at ``threads`` threads.

    With ``numpy``, also numpy's matmul; its BLAS keeps the thread count it chose at import (every core here,
    reported as threads 0), so it is only a reference for the whole machine.
    """
    import torch

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        used = torch.get_num_threads()
        a, b = torch.randn(n, n), torch.randn(n, n)
        flops = 2.0 * n**3
        with torch.inference_mode():
            best, median = _best_and_median(lambda: torch.mm(a, b), repeats)
        peaks = [Peak("torch", used, n, flops / best / 1e9, flops / median / 1e9)]
        if numpy:
            x, y = a.numpy(), b.numpy()
            best, median = _best_and_median(lambda: x @ y, repeats)
            peaks.append(Peak("numpy", 0, n, flops / best / 1e9, flops / median / 1e9))
    finally:
        torch.set_num_threads(previous)
    return peaks


def network_macs(variant: str, size: tuple[int, int], num_classes: int = 11) -> int:
    """MACs of one inference forward pass at ``size`` (conv and linear layers, stdc_ros.network.count_macs)."""
    import torch

    from ..network import build_stdc, count_macs

    with torch.device("meta"):
        model = build_stdc(variant, num_classes).eval()
    return count_macs(model, (1, 3, *size))


@dataclass
class Utilisation:
    variant: str
    size: tuple[int, int]
    backend: str
    gmacs: float
    best_ms: float
    p50_ms: float
    peak_gflops: float

    @property
    def achieved_gflops(self) -> float:
        """From the best (least disturbed) call, like the peak: both are what the cores give when left alone."""
        return 2.0 * self.gmacs / (self.best_ms / 1e3)

    @property
    def ratio(self) -> float:
        return self.achieved_gflops / self.peak_gflops

    def row(self) -> dict[str, Any]:
        return {
            "model": self.variant,
            "size": f"{self.size[0]}x{self.size[1]}",
            "backend": self.backend,
            "gmacs": self.gmacs,
            "best_ms": self.best_ms,
            "p50_ms": self.p50_ms,
            "achieved_gflops": self.achieved_gflops,
            "peak_gflops": self.peak_gflops,
            "utilisation_pct": 100.0 * self.ratio,
            "utilisation_p50_pct": 100.0 * 2.0 * self.gmacs / (self.p50_ms / 1e3) / self.peak_gflops,
            "floor_ms": 2.0 * self.gmacs / self.peak_gflops * 1e3,
        }


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


def onnxruntime_network_ms(model: Path, iters: int, threads: int | None = None) -> tuple[float, float]:
    """(best, p50) ms of the network alone in ONNX Runtime (``network_call``; else the full runtime call)."""
    from ..runtime import create_runtime

    with create_runtime("onnxruntime", model, threads=threads) as runtime:
        call = runtime.network_call()
        if call is None:
            image = np.zeros((*runtime.input_size, 3), np.uint8)
            call = lambda: runtime.infer(image)  # noqa: E731
        call()
        samples = []
        for _ in range(iters):
            start = time.perf_counter()
            call()
            samples.append((time.perf_counter() - start) * 1000.0)
    return float(min(samples)), float(np.median(samples))


def utilisation(
    variants: Sequence[str],
    sizes: Sequence[tuple[int, int]],
    peak_probe: Callable[[], float],
    iters: int = 5,
    onnx_models: dict[tuple[str, tuple[int, int]], Path] | None = None,
    threads: int | None = None,
) -> tuple[list[Utilisation], float]:
    """Achieved GFLOP/s of torch eager (every variant and size) and ONNX Runtime (where a model is given).

    ``peak_probe()`` (best GFLOP/s of a short matmul run) is called before the first and after every network
    timing; the peak is the best of them all, so that a busy moment does not pass for the machine's limit.
    Returns the rows and that peak.
    """
    peak = peak_probe()
    measured: list[tuple[str, tuple[int, int], str, float, float, float]] = []
    for variant in variants:
        for size in sizes:
            gmacs = network_macs(variant, size) / 1e9
            timings = [("torch eager", torch_network_ms(variant, size, iters, threads))]
            peak = max(peak, peak_probe())
            model = (onnx_models or {}).get((variant, tuple(size)))
            if model is not None:
                timings.append(("onnxruntime", onnxruntime_network_ms(model, iters, threads)))
                peak = max(peak, peak_probe())
            measured += [(variant, tuple(size), backend, gmacs, best, p50) for backend, (best, p50) in timings]
    rows = [Utilisation(v, s, b, g, best, p50, peak) for v, s, b, g, best, p50 in measured]  # type: ignore[arg-type]
    return rows, peak


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

    Runs the whole graph as stored (a ``full`` model includes its pre/post-processing operators).
    """
    import onnxruntime as ort

    from ..runtime.conventions import FORMAT_FULL, ModelMetadata

    with tempfile.TemporaryDirectory(prefix="stdc_ort_profile_") as tmp:
        options = ort.SessionOptions()
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "ort")
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
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
