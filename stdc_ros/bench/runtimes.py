"""Latency of every available backend, interleaved call by call so that ratios hold on a noisy machine.

Per backend: the runtime call (``infer``: resize, normalise, network, argmax, resize back, copies) and the pure
network call on a prepared input. ONNX Runtime runs the same ``full`` model twice: ``onnxruntime`` (its default,
pre/post-processing in numpy/OpenCV around the network cut out of the graph) and ``onnxruntime-graph`` (the
whole graph), which is how we decide where pre/post-processing belongs.
"""

from __future__ import annotations

import logging
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..runtime import SegmentationRuntime, available_backends, create_runtime
from ..runtime.conventions import format_size

log = logging.getLogger(__name__)

DEFAULT_SIZES: tuple[tuple[int, int], ...] = ((360, 480), (720, 960), (512, 1024))
ORT_GRAPH = "onnxruntime-graph"  # ONNX Runtime running the whole full graph (pre/post-processing in the graph)


@dataclass
class ModelSpec:
    """A model to benchmark: a checkpoint (exported to ONNX per size on demand) and/or fixed files."""

    name: str
    checkpoint: Path | None = None
    onnx_full: Path | None = None  # used as-is when given (its input size must be among the sizes)
    onnx_raw: Path | None = None  # TensorRT builds from the raw convention
    workdir: Path | None = None  # where per-size exports go (default: a temporary folder)
    _exports: dict[tuple[str, tuple[int, int]], Path] = field(default_factory=dict, repr=False)

    def onnx(self, fmt: str, size: tuple[int, int]) -> Path | None:
        given = self.onnx_full if fmt == "full" else self.onnx_raw
        if given is not None:
            return given
        if self.checkpoint is None:
            return None
        key = (fmt, size)
        if key not in self._exports:
            from ..model_tools.export import export_onnx
            from ..network import load_checkpoint_model

            folder = self.workdir or Path(tempfile.mkdtemp(prefix="stdc_bench_"))
            self.workdir = folder
            path = folder / f"{self.name}_{format_size(size)}_{fmt}.onnx"
            if not path.is_file():
                export_onnx(load_checkpoint_model(self.checkpoint), path, size, embed_pre_post=fmt == "full")
            self._exports[key] = path
        return self._exports[key]


def random_weight_models(workdir: Path, variants: Sequence[str] = ("stdc1",), num_classes: int = 11) -> list[ModelSpec]:
    """Random-weight checkpoints (speed does not depend on the weights) in ``workdir``."""
    import torch

    from ..network import build_stdc, save_model_checkpoint

    specs = []
    for variant in variants:
        path = workdir / f"{variant}_random.pt"
        if not path.is_file():
            torch.manual_seed(0)
            save_model_checkpoint(build_stdc(variant, num_classes).eval(), path, label_set="camvid")
        specs.append(ModelSpec(name=variant, checkpoint=path, workdir=workdir))
    return specs


def percentile_summary(samples_ms: Sequence[float]) -> dict[str, float]:
    a = np.asarray(samples_ms, dtype=np.float64)
    return {
        "p50_ms": float(np.percentile(a, 50)),
        "p90_ms": float(np.percentile(a, 90)),
        "p99_ms": float(np.percentile(a, 99)),
        "mean_ms": float(a.mean()),
        "fps": float(1000.0 / a.mean()),
        "samples": len(a),
    }


@dataclass
class _Subject:
    backend: str  # row label
    call: str  # "runtime", "network" or "stub" (runtime call with a 1x1-conv network: the pre/post cost)
    fn: Callable[[], object]
    describe: str
    samples: list[float] = field(default_factory=list)


def _stub_network(num_classes: int) -> Any:
    """Stands in for STDC when timing pre/post-processing: same output shape, a 1x1 conv at ~0 cost."""
    from torch import nn

    class StubNetwork(nn.Module):
        variant = "stub"

        def __init__(self) -> None:
            super().__init__()
            self.num_classes = num_classes
            self.classifier = nn.Conv2d(3, num_classes, 1)

        def forward(self, x: Any) -> Any:
            return self.classifier(x)

    return StubNetwork().eval()


@contextmanager
def _open_subjects(
    backends: Sequence[str],
    spec: ModelSpec,
    size: tuple[int, int],
    image: np.ndarray,
    device: str,
    options: dict,
    stubs: bool,
) -> Iterator[list[_Subject]]:
    """Runtimes of ``spec`` at ``size`` for each backend, as timed subjects; closes them on exit."""
    subjects: list[_Subject] = []
    with ExitStack() as stack:

        def open_runtime(
            backend: str, path: Path | None, dev: str, opts: dict | None = None
        ) -> SegmentationRuntime | None:
            if path is None:
                log.info("skipping %s for %s: no model file for it", backend, spec.name)
                return None
            try:
                kwargs = (opts if opts is not None else options).get(backend, {})
                rt = create_runtime(backend, path, input_size=size, device=dev, **kwargs)
            except Exception as exc:  # a backend that cannot start here is reported and skipped, not fatal
                log.warning("skipping %s at %s: %s", backend, format_size(size), exc)
                return None
            return stack.enter_context(rt)

        def add(label: str, call: str, rt: SegmentationRuntime | None, network: bool = False) -> None:
            if rt is None:
                return
            fn = rt.network_call() if network else (lambda: rt.infer(image))
            if fn is not None:
                subjects.append(_Subject(label, call, fn, rt.describe()))

        stub_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stdc_stub_"))) if stubs else None
        stub_onnx: dict[str, Path] = {}

        def stub_path(fmt: str, num_classes: int) -> Path:
            from ..model_tools.export import export_onnx

            assert stub_dir is not None
            if fmt not in stub_onnx:
                path = stub_dir / f"stub_{format_size(size)}_{fmt}.onnx"
                export_onnx(_stub_network(num_classes), path, size, embed_pre_post=fmt == "full")
                stub_onnx[fmt] = path
            return stub_onnx[fmt]

        ort_options = options.get("onnxruntime", {})
        for label, mode in (("onnxruntime", "auto"), (ORT_GRAPH, "graph")):
            if label not in backends:
                continue
            opts = {**options, "onnxruntime": {**ort_options, "prepost": mode}}
            rt = open_runtime("onnxruntime", spec.onnx("full", size), device, opts)
            add(label, "runtime", rt)
            add(label, "network", rt, network=True)  # None for the graph mode: no separate network
            if stubs and rt is not None:
                stub = open_runtime("onnxruntime", stub_path("full", rt.num_classes), device, opts)
                add(label, "stub", stub)
                add(label, "stub_network", stub, network=True)
        if "torch" in backends and spec.checkpoint is not None:
            rt = open_runtime("torch", spec.checkpoint, device)
            add("torch", "runtime", rt)
            add("torch", "network", rt, network=True)
            if stubs and rt is not None:
                stub = open_runtime("torch", spec.checkpoint, device)
                if stub is not None:
                    stub.graph.network = _stub_network(stub.num_classes).to(stub.device)  # type: ignore[attr-defined]
                    add("torch", "stub", stub)
                    add("torch", "stub_network", stub, network=True)
        if "tensorrt" in backends:
            rt = open_runtime("tensorrt", spec.onnx("raw", size), "cuda")
            add("tensorrt", "runtime", rt)
            add("tensorrt", "network", rt, network=True)
        yield subjects


def bench_runtimes(
    backends: Sequence[str] | None,
    model_specs: Sequence[ModelSpec],
    sizes: Sequence[tuple[int, int]] = DEFAULT_SIZES,
    warmup: int = 3,
    iters: int = 30,
    device: str = "cpu",
    options: dict[str, dict] | None = None,
    seed: int = 0,
    stubs: bool = True,
) -> list[dict]:
    """Time each backend on each model and input size; one row per (model, size, backend, call).

    ``backends``: names from ``create_runtime`` plus ``"onnxruntime-graph"``; None = every available one (and
    both ONNX Runtime modes). The image has the network's input size, as a camera stream at that size.
    Calls are interleaved in a fresh random order each iteration, so load from other processes spreads over all
    backends alike.

    Call kinds: ``runtime`` (``infer``), ``network`` (the network alone on a prepared input) and, with
    ``stubs``, ``stub`` / ``stub_network``: the same two with STDC replaced by a 1x1 conv, whose difference is
    the pre/post-processing cost measured directly (subtracting two noisy STDC timings is not precise enough
    on a loaded machine). Runtime rows carry ``overhead_ms`` and ``overhead_pct`` (of the network p50), from the
    stubs where measured, else from runtime p50 - network p50 (``overhead_method`` says which).
    """
    if backends is None:
        backends = available_backends()
        if "onnxruntime" in backends:
            backends.insert(backends.index("onnxruntime") + 1, ORT_GRAPH)
    rng = np.random.default_rng(seed)
    order_rng = random.Random(seed)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="stdc_bench_") as tmp:
        for spec in model_specs:
            spec = spec if spec.workdir is not None else replace(spec, workdir=Path(tmp))
            rows.extend(
                _bench_model(spec, backends, sizes, warmup, iters, device, options or {}, stubs, rng, order_rng)
            )
    return rows


def _bench_model(
    spec: ModelSpec,
    backends: Sequence[str],
    sizes: Sequence[tuple[int, int]],
    warmup: int,
    iters: int,
    device: str,
    options: dict,
    stubs: bool,
    rng: np.random.Generator,
    order_rng: random.Random,
) -> list[dict]:
    rows: list[dict] = []
    for size in sizes:
        image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        with _open_subjects(backends, spec, size, image, device, options, stubs) as subjects:
            if not subjects:
                continue
            log.info(
                "%s @ %s: %d warm-up + %d timed rounds of %d interleaved calls",
                spec.name,
                format_size(size),
                warmup,
                iters,
                len(subjects),
            )
            for _ in range(warmup):
                for s in subjects:
                    s.fn()
            for _ in range(iters):
                order_rng.shuffle(subjects)
                for s in subjects:
                    t0 = time.perf_counter()
                    s.fn()
                    s.samples.append((time.perf_counter() - t0) * 1000.0)
            done = _rows(spec.name, size, subjects)
            rows.extend(done)
            # one line per size, so a long run that is interrupted still leaves its figures in the log
            summary = ", ".join(f"{r['backend']} {r['call']} {r['p50_ms']:.1f}" for r in done)
            log.info("%s @ %s p50 ms: %s", spec.name, format_size(size), summary)
    return rows


def _rows(model: str, size: tuple[int, int], subjects: list[_Subject]) -> list[dict]:
    p50 = {(s.backend, s.call): float(np.percentile(s.samples, 50)) for s in subjects}
    for call in ("network", "stub_network"):  # the graph mode has no separate network: same network as numpy
        if ("onnxruntime", call) in p50:
            p50.setdefault((ORT_GRAPH, call), p50[("onnxruntime", call)])
    order = {"runtime": 0, "network": 1, "stub": 2, "stub_network": 3}
    out = []
    for s in sorted(subjects, key=lambda s: (s.backend, order[s.call])):
        row: dict[str, Any] = {
            "model": model,
            "size": format_size(size),
            "backend": s.backend,
            "call": s.call,
            "describe": s.describe,
        }
        row.update(percentile_summary(s.samples))
        net = p50.get((s.backend, "network"))
        if s.call == "runtime" and net:
            stub, stub_net = p50.get((s.backend, "stub")), p50.get((s.backend, "stub_network"))
            if stub is not None and stub_net is not None:
                row["overhead_ms"], row["overhead_method"] = max(stub - stub_net, 0.0), "stub"
            else:
                row["overhead_ms"], row["overhead_method"] = row["p50_ms"] - net, "difference"
            row["overhead_pct"] = 100.0 * row["overhead_ms"] / net
        row["samples_ms"] = [round(v, 3) for v in s.samples]
        out.append(row)
    return out
