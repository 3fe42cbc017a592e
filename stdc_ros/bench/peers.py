"""A peer side by side: OpenVINO runs the same FP32 and INT8 files as ONNX Runtime, interleaved call by call.

Two call kinds, both on the very same file at the same thread count:

- ``network``: the network alone on a prepared float input. ONNX Runtime runs it as the node does on the CPU
  (cut out of the ``full`` graph, ``network_call``); OpenVINO compiles the same cut-out network;
- ``frame``: a whole camera frame to labels. ONNX Runtime: the package's ``infer`` (pre/post-processing in
  numpy around the network, the node's default CPU path); OpenVINO: the whole ``full`` graph as shipped (uint8
  image in, labels out), which is how its user would run the file.

OpenVINO is compiled with ``INFERENCE_PRECISION_HINT=f32``, so that the FP32 file runs float32 arithmetic on
both; where its default hint differs (bf16 on CPUs with AVX-512 BF16 or AMX), one more row runs its default, so
that what a user of OpenVINO gets out of the box is measured too, labelled with the precision it really uses.
OpenVINO is an optional extra (``pip install stdc_ros[openvino]``); without it its rows are skipped with a line
that says so.
"""

from __future__ import annotations

import logging
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..machine import openvino_version
from .models import ModelFile
from .runtimes import percentile_summary

log = logging.getLogger(__name__)

ONNXRUNTIME, OPENVINO = "onnxruntime", "openvino"
CALLS = ("network", "frame")


def openvino_missing_note() -> str:
    return "OpenVINO is not installed: its rows are skipped (pip install 'openvino' or the extra stdc_ros[openvino])"


@dataclass
class _Subject:
    model: ModelFile
    runtime: str  # row label: "onnxruntime", "openvino", "openvino (default: bf16)"
    call: str
    threads: int
    fn: Callable[[], object]
    describe: str
    samples: list[float] = field(default_factory=list)


def _cut_network_file(model: Path, folder: Path) -> Path:
    """The network of a ``full`` file, cut out exactly as ONNX Runtime's CPU path does, as an ONNX file."""
    import onnx

    from ..runtime.conventions import ModelMetadata
    from ..runtime.network_cut import extract_network, locate_network

    proto = onnx.load_model(str(model), load_external_data=False)
    meta = ModelMetadata.from_props({p.key: p.value for p in proto.metadata_props}, model)
    names = (meta.network_input, meta.network_output)
    network = extract_network(proto, *(names if all(names) else locate_network(proto)))
    path = folder / f"{model.stem}_network.onnx"
    onnx.save_model(network, str(path))
    return path


class OpenVinoCall:
    """One compiled OpenVINO model on the CPU, called with a fixed input."""

    def __init__(self, core: Any, path: Path, threads: int, feed: np.ndarray, precision_hint: str | None) -> None:
        config = {"INFERENCE_NUM_THREADS": str(threads), "PERFORMANCE_HINT": "LATENCY"}
        if precision_hint:
            config["INFERENCE_PRECISION_HINT"] = precision_hint
        self.compiled = core.compile_model(str(path), "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.feed = feed
        self.precision = _hint_name(self.compiled.get_property("INFERENCE_PRECISION_HINT"))

    def __call__(self) -> object:
        return self.request.infer({0: self.feed}, share_inputs=True)


def _hint_name(hint: Any) -> str:
    """'f32' / 'bf16' / 'f16' from an OpenVINO element type (or its string)."""
    return hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)


def default_precision_hint() -> str | None:
    """OpenVINO's own inference precision on this CPU ('bf16' where it has AVX-512 BF16 or AMX), None if absent."""
    try:
        import openvino
    except ImportError:
        return None
    return _hint_name(openvino.Core().get_property("CPU", "INFERENCE_PRECISION_HINT"))


@contextmanager
def _subjects(
    models: Sequence[ModelFile], threads: Sequence[int], calls: Sequence[str], openvino: bool, ov_default: bool
) -> Iterator[list[_Subject]]:
    from ..runtime import create_runtime

    subjects: list[_Subject] = []
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stdc_peers_")))
        core = None
        default_hint = None
        if openvino:
            import openvino as ov

            core = ov.Core()
            default_hint = default_precision_hint()
        rng = np.random.default_rng(0)
        for model in models:
            image = rng.integers(0, 256, (*model.input_size, 3), dtype=np.uint8)
            network_file = _cut_network_file(model.path, folder) if core is not None and "network" in calls else None
            for t in threads:
                rt = stack.enter_context(create_runtime("onnxruntime", model.path, threads=t))
                if "network" in calls:
                    fn = rt.network_call()
                    if fn is None:
                        log.warning("ONNX Runtime cannot cut the network out of %s: no network rows", model.path)
                    else:
                        subjects.append(_Subject(model, ONNXRUNTIME, "network", t, fn, rt.describe()))
                if "frame" in calls:
                    subjects.append(
                        _Subject(model, ONNXRUNTIME, "frame", t, lambda rt=rt, im=image: rt.infer(im), rt.describe())
                    )
                if core is None:
                    continue
                hints = [("f32", OPENVINO)]
                if ov_default and default_hint and default_hint != "f32":
                    hints.append((None, f"{OPENVINO} (its default: {default_hint})"))
                blob = np.zeros((1, 3, *model.input_size), np.float32)
                for hint, label in hints:
                    what = f"openvino {openvino_version()} CPU {model.path.name}"
                    if network_file is not None:
                        fn = OpenVinoCall(core, network_file, t, blob, hint)
                        describe = f"{what}, network cut out, inference precision {fn.precision}"
                        subjects.append(_Subject(model, label, "network", t, fn, describe))
                    if "frame" in calls:
                        fn = OpenVinoCall(core, model.path, t, image[None], hint)
                        describe = f"{what}, whole graph, inference precision {fn.precision}"
                        subjects.append(_Subject(model, label, "frame", t, fn, describe))
        yield subjects


def bench_peers(
    models: Sequence[ModelFile],
    threads: Sequence[int] = (1, 2),
    calls: Sequence[str] = CALLS,
    iters: int = 20,
    warmup: int = 2,
    openvino: bool | None = None,
    ov_default: bool = True,
    seed: int = 0,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows (one per model, runtime, call, threads: percentiles of ms per call) and notes (ratios, skips).

    Every subject runs once per round in a fresh random order, so that other work on the machine spreads over
    them alike; medians are compared. ``openvino`` None = when installed.
    """
    notes: list[str] = []
    installed = openvino_version()
    if openvino is None:
        openvino = installed is not None
    if openvino and installed is None:
        openvino = False
    if not openvino:
        notes.append(openvino_missing_note() if installed is None else "OpenVINO rows not asked for")
    order = random.Random(seed)
    with _subjects(models, threads, calls, openvino, ov_default) as subjects:
        if not subjects:
            return [], notes
        log.info("peers: %d warm-up + %d rounds of %d interleaved calls", warmup, iters, len(subjects))
        for _ in range(warmup):
            for s in subjects:
                s.fn()
        for _ in range(iters):
            order.shuffle(subjects)
            for s in subjects:
                start = time.perf_counter()
                s.fn()
                s.samples.append((time.perf_counter() - start) * 1000.0)
        rows = [_row(s) for s in sorted(subjects, key=_order_key)]
    notes += peer_notes(rows)
    if installed:
        notes.append(f"OpenVINO {installed}")
    return rows, notes


def _order_key(s: _Subject) -> tuple:
    return (CALLS.index(s.call), s.threads, s.model.label, s.runtime != ONNXRUNTIME, s.runtime)


def _row(s: _Subject) -> dict[str, Any]:
    row: dict[str, Any] = {
        "model": s.model.label,
        "file": s.model.path.name,
        "precision": s.model.precision,
        "size": s.model.size,
        "runtime": s.runtime,
        "call": s.call,
        "threads": s.threads,
        "describe": s.describe,
    }
    row.update(percentile_summary(s.samples))
    row["samples_ms"] = [round(v, 3) for v in s.samples]
    return row


def peer_notes(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Side-by-side ratios of the medians: ONNX Runtime against each peer, and INT8 against FP32 per runtime."""
    p50 = {(r["model"], r["runtime"], r["call"], r["threads"]): r["p50_ms"] for r in rows}
    notes = []
    for (model, runtime, call, t), ms in p50.items():
        ours = p50.get((model, ONNXRUNTIME, call, t))
        if runtime != ONNXRUNTIME and ours:
            verdict = f"ahead, {ms / ours:.2f}x faster" if ours <= ms else f"BEHIND, {runtime} {ours / ms:.2f}x faster"
            notes.append(
                f"{model} {call}, {t} thread(s): onnxruntime {ours:.1f} ms vs {runtime} {ms:.1f} ms (p50): "
                f"onnxruntime {verdict}"
            )
    for (model, runtime, call, t), ms in p50.items():
        fp32 = p50.get(("FP32", runtime, call, t))
        if model != "FP32" and fp32:
            notes.append(
                f"{model} over FP32, {runtime} {call}, {t} thread(s): {fp32 / ms:.2f}x ({fp32:.1f} -> {ms:.1f} ms)"
            )
    return notes
