"""`stdc-ros bench` sections beyond the runtimes: node overhead, per-frame post-processing cost, the physical
limit (network MACs against the measured float32 and int8 matmul peaks, with profiles), a peer runtime
(OpenVINO) side by side with ONNX Runtime on the FP32 and INT8 files, and a 30 Hz camera through the node.

Each section declares its options once (a ``cli_options`` dataclass: its flags are made from the fields, and its
run function reads them back typed) and returns a ``SectionResult`` (see ``sections.py``); ``suite_sections()``
lists them for ``cli.SECTIONS``. Nothing here is a timed test: the figures are printed and saved, and
docs/performance.md records them with the command that produced each.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..cli_options import negated, option, options_from

if TYPE_CHECKING:
    from .node_overhead import NodeBenchSettings
    from .sections import Section, SectionResult

log = logging.getLogger(__name__)

TARGET_MS = 2.0  # image conversion and drivable post-processing, each, at 360x480


def _p50(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000.0)
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 90))


def _size(text: str) -> tuple[int, int]:
    from ..runtime.conventions import parse_size

    return parse_size(text)


def _sizes(text: str) -> list[tuple[int, int]]:
    return [_size(s) for s in text.split(",") if s.strip()]


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _threads(text: str) -> list[int]:
    return [int(t) for t in str(text).split(",") if t.strip()]


# ---------------------------------------------------------------------------------------------- node
NODE_COLUMNS = (
    ("measure", "measure", ""),
    ("size", "size", ""),
    ("p50_ms", "p50 ms", ".2f"),
    ("p90_ms", "p90 ms", ".2f"),
    ("p99_ms", "p99 ms", ".2f"),
    ("n", "n", "d"),
)


@dataclass(frozen=True)
class NodeSizeOption:
    """The node section's --node-size; its other flags are NodeBenchSettings' fields (node_overhead.py)."""

    size: tuple[int, int] = option(
        "--node-size", default=(360, 480), parse=_size, help="frame and network size HxW (360x480)"
    )


def node_settings(args: argparse.Namespace) -> NodeBenchSettings:
    """The node section's flags as NodeBenchSettings; --node-size sets height and width."""
    from .node_overhead import NodeBenchSettings

    height, width = options_from(args, NodeSizeOption).size
    return options_from(args, NodeBenchSettings, height=height, width=width)


def _run_node(args: argparse.Namespace, out_dir: Path) -> SectionResult:
    from .node_overhead import run_node_bench
    from .sections import SectionResult, format_table

    settings = node_settings(args)
    result = run_node_bench(settings)
    rows = result.rows()
    summary = {
        "measure": "summary",
        "overhead_ms": result.overhead_ms,
        "overhead_pct": result.overhead_pct,
        "transport_ms": result.p(result.echo_ms),
        "own_work_ms": result.own_work_ms,
        "node_inference_p50_ms": result.node_inference_p50_ms,
        "outside_inference_ms": result.outside_inference_ms,
        "camera": result.camera,
        "runtime": result.runtime,
        "threads": settings.threads,
    }
    return SectionResult([*rows, summary], format_table(rows, NODE_COLUMNS), notes=result.notes())


# ---------------------------------------------------------------------------------------------- post-processing
POST_COLUMNS = (
    ("stage", "stage", ""),
    ("what", "what", ""),
    ("p50_ms", "p50 ms", ".3f"),
    ("p90_ms", "p90 ms", ".3f"),
    ("within_target", f"< {TARGET_MS:g} ms", ""),
)


@dataclass(frozen=True)
class PostOptions:
    size: tuple[int, int] = option("--post-size", default=(360, 480), parse=_size, help="frame size HxW (360x480)")
    iters: int = option("--post-iters", default=200, parse=int, help="timed repetitions per item (200)")


def output_message_costs(height: int, width: int, repeats: int) -> dict[str, tuple[float, float]]:
    """p50/p90 ms of building each output message the node publishes (from labels and the input image)."""
    from std_msgs.msg import Header

    from ..labels import load_label_set
    from ..node.outputs import blend, colorize, image_msg, labels_png_msg

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 11, (height, width), dtype=np.uint8)
    labels = np.repeat(np.repeat(labels[::8, ::8], 8, axis=0), 8, axis=1)[:height, :width].copy()  # blocky
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    palette = load_label_set("camvid").palette()
    header = Header(frame_id="camera")
    return {
        "~/out/labels (mono8 Image)": _p50(lambda: image_msg(header, labels, "mono8"), repeats),
        "~/out/labels/compressed (PNG)": _p50(lambda: labels_png_msg(header, labels), repeats),
        "~/out/color (palette + Image)": _p50(lambda: image_msg(header, colorize(labels, palette), "rgb8"), repeats),
        "~/out/overlay (blend + Image)": _p50(
            lambda: image_msg(header, blend(image, "rgb", colorize(labels, palette), 0.5), "rgb8"), repeats
        ),
    }


def _run_post(args: argparse.Namespace, out_dir: Path) -> SectionResult:
    from .codec import bench_codec
    from .drivable import bench_drivable
    from .sections import SectionResult, format_table

    opts = options_from(args, PostOptions)
    height, width = opts.size
    rows: list[dict[str, Any]] = []
    for encoding, p50 in bench_codec(height, width, repeats=opts.iters, show=False).items():
        rows.append({"stage": "input decode", "what": encoding, "p50_ms": p50, "p90_ms": None})
    for what, (p50, p90) in output_message_costs(height, width, opts.iters).items():
        rows.append({"stage": "output message", "what": what, "p50_ms": p50, "p90_ms": p90})
    drivable = bench_drivable(iters=opts.iters)
    for stage in ("mask", "grid", "scan", "total"):
        rows.append({"stage": "drivable area", "what": stage, **{f"{k}_ms": v for k, v in drivable[stage].items()}})
    for row in rows:
        row["within_target"] = "yes" if row["p50_ms"] < TARGET_MS else "NO"
    decode_rgb8 = next(r["p50_ms"] for r in rows if r["what"] == "rgb8")
    labels_msg = next(r["p50_ms"] for r in rows if r["what"].startswith("~/out/labels (mono8"))
    over = [f"{r['stage']}: {r['what']} {r['p50_ms']:.2f} ms" for r in rows if r["within_target"] == "NO"]
    notes = [
        f"at {height}x{width}: rgb8 decode + labels message {decode_rgb8 + labels_msg:.3f} ms (target < {TARGET_MS:g}"
        f" ms); drivable area total p50 {drivable['total']['p50']:.3f} ms (target < {TARGET_MS:g} ms; drivable "
        f"labels from {drivable['labels']}, grid {drivable['grid_size']})",
        "over the 2 ms target: " + ("; ".join(over) if over else "nothing"),
    ]
    return SectionResult(rows, format_table(rows, POST_COLUMNS), notes=notes)


# ---------------------------------------------------------------------------------------------- physical limit
PHYSICAL_COLUMNS = (
    ("model", "model", ""),
    ("size", "size", ""),
    ("backend", "backend", ""),
    ("threads", "thr", "d"),
    ("gmacs", "GMACs", ".2f"),
    ("best_ms", "best ms", ".1f"),
    ("p50_ms", "p50 ms", ".1f"),
    ("achieved_gops", "GOP/s", ".0f"),
    ("peak_gops", "peak GOP/s", ".0f"),
    ("utilisation_pct", "util %", ".1f"),
    ("utilisation_p50_pct", "util p50 %", ".1f"),
    ("floor_ms", "floor ms", ".1f"),
)
PEAK_COLUMNS = (
    ("precision", "precision", ""),
    ("threads", "thr", "d"),
    ("library", "kernel", ""),
    ("best_gops", "best GOP/s", ".0f"),
    ("median_gops", "median GOP/s", ".0f"),
    ("best", "best", ""),
)


@dataclass(frozen=True)
class PhysicalOptions:
    threads: list[int] = option(
        "--physical-threads", default_factory=lambda: [1, 2], parse=_threads, help="thread counts (1,2)"
    )
    iters: int = option("--physical-iters", default=10, parse=int, help="interleaved timed calls per model and threads")
    peak_n: int = option("--peak-n", default=2048, parse=int, help="matrix size of the peak matmuls (2048)")
    peak_repeats: int = option("--peak-repeats", default=5, parse=int)
    variants: list[str] = option(
        "--physical-variants",
        default_factory=list,
        cli_default="",
        convert=_names,
        help="also torch eager (random weights) for these variants, e.g. stdc1,stdc2 (default: none)",
    )
    sizes: list[tuple[int, int]] = option(
        "--physical-sizes",
        default_factory=lambda: [(360, 480)],
        cli_default="360x480",
        convert=_sizes,
        help="sizes of the torch eager rows",
    )
    profile: bool = negated("--no-profile", help="skip the ONNX Runtime operator profiles")


def _run_physical(args: argparse.Namespace, out_dir: Path) -> SectionResult:
    from ..machine import read_cpu_info
    from .models import resolve_models
    from .peaks import FP32, best_peak, measure_peaks, merge_best
    from .physical import Utilisation, network_macs, onnx_network_macs, profile_onnxruntime, time_onnx_networks
    from .sections import SectionResult, format_table

    opts = options_from(args, PhysicalOptions)
    cpu = read_cpu_info()
    threads = opts.threads or [1]
    models, notes = resolve_models(args)
    before = measure_peaks(threads, opts.peak_n, opts.peak_repeats)
    timings = time_onnx_networks([m.path for m in models], threads, opts.iters)
    torch_rows: list[tuple[str, tuple[int, int], int, tuple[float, float]]] = []
    if opts.variants:
        from .physical import torch_network_ms

        for variant in opts.variants:
            for size in opts.sizes:
                for t in threads:
                    torch_rows.append((variant, size, t, torch_network_ms(variant, size, opts.iters, t)))
    after = measure_peaks(threads, opts.peak_n, opts.peak_repeats)  # probes on both sides of the networks
    peaks = merge_best(before, after)
    results: list[Utilisation] = []
    for model in models:
        gmacs = onnx_network_macs(model.path) / 1e9
        for t in threads:
            backend, samples = timings[(model.path, t)]
            precision = "int8" if model.precision == "int8" else FP32
            results.append(
                Utilisation(
                    model.label,
                    model.input_size,
                    backend,
                    precision,
                    t,
                    gmacs,
                    float(np.min(samples)),
                    float(np.percentile(samples, 50)),
                    best_peak(peaks, precision, t),
                )
            )
    for variant, size, t, (best, p50) in torch_rows:
        gmacs = network_macs(variant, size) / 1e9
        peak = best_peak(peaks, FP32, t)
        results.append(Utilisation(f"{variant} (random)", size, "torch eager", FP32, t, gmacs, best, p50, peak))
    rows = [u.row() for u in results]
    peak_rows = []
    for p in sorted(peaks, key=lambda p: (p.precision, p.threads, -p.best_gops)):
        best = best_peak(peaks, p.precision, p.threads)
        peak_rows.append({**p.as_dict(), "library": p.label(), "best": "<- peak" if best == p else ""})
    table = format_table(rows, PHYSICAL_COLUMNS) + f"\n\nmatmul peaks (n = {opts.peak_n}, 2 ops per MAC):\n"
    table += format_table(peak_rows, PEAK_COLUMNS)
    notes = [
        f"CPU: {cpu.summary()}",
        *notes,
        "utilisation = 2 x MACs / network time / the peak of the matching precision at the same threads (FP32 file "
        "vs the best float32 matmul, INT8 file vs the best int8 matmul); util % from the best call (like the peak), "
        "util p50 % from the median; floor = the network time at 100 % of that peak",
    ]
    extra: list[dict[str, Any]] = [{"cpu": cpu.as_dict()}, {"peaks": [p.as_dict() for p in peaks]}]
    if opts.profile:
        for model in models:
            ops = profile_onnxruntime(model.path, threads=threads[0])
            lines = [f"  {o['op']:<28s} {o['ms_per_run']:8.2f} ms/run {o['share_pct']:6.1f} %" for o in ops]
            table += (
                f"\n\nONNX Runtime profiler, {model.label} {model.path.name} (whole graph, {threads[0]} thread(s)), "
                "time per operator type:\n" + "\n".join(lines)
            )
            extra.append({"onnxruntime_profile": {"model": model.label, "ops": ops}})
    return SectionResult(rows + extra, table, notes=notes)


# ---------------------------------------------------------------------------------------------- peers
PEER_COLUMNS = (
    ("call", "call", ""),
    ("threads", "thr", "d"),
    ("model", "model", ""),
    ("runtime", "runtime", ""),
    ("p50_ms", "p50 ms", ".1f"),
    ("p90_ms", "p90 ms", ".1f"),
    ("fps", "FPS", ".1f"),
    ("samples", "n", "d"),
)


@dataclass(frozen=True)
class PeerOptions:
    threads: list[int] = option(
        "--peer-threads", default_factory=lambda: [1, 2], parse=_threads, help="thread counts (1,2)"
    )
    calls: list[str] = option(
        "--peer-calls",
        default_factory=lambda: ["network", "frame"],
        cli_default="network,frame",
        convert=_names,
        help="network (network alone), frame (image to labels)",
    )
    iters: int = option("--peer-iters", default=20, parse=int, help="interleaved rounds (20)")
    warmup: int = option("--peer-warmup", default=2, parse=int)
    openvino_default: bool = negated(
        "--no-openvino-default", help="skip OpenVINO's own default precision rows (bf16 on CPUs that have it)"
    )


def _run_peers(args: argparse.Namespace, out_dir: Path) -> SectionResult:
    from ..machine import read_cpu_info
    from .models import resolve_models
    from .peers import bench_peers
    from .sections import SectionResult, format_table

    opts = options_from(args, PeerOptions)
    models, notes = resolve_models(args)
    rows, peer_notes = bench_peers(
        models, opts.threads, opts.calls, opts.iters, opts.warmup, ov_default=opts.openvino_default
    )
    notes = [f"CPU: {read_cpu_info().summary()}", *notes, *peer_notes]
    return SectionResult(rows, format_table(rows, PEER_COLUMNS), notes=notes)


# ---------------------------------------------------------------------------------------------- 30 Hz camera
CAMERA_COLUMNS = (
    ("model", "model", ""),
    ("size", "size", ""),
    ("threads", "thr", "d"),
    ("camera_hz", "camera Hz", "g"),
    ("sent", "sent", "d"),
    ("processed_hz", "processed Hz", ".1f"),
    ("drop_pct", "dropped %", ".1f"),
    ("latency_p50_ms", "p50 ms", ".1f"),
    ("latency_p99_ms", "p99 ms", ".1f"),
    ("goal_met", "goal met", ""),
)


@dataclass(frozen=True)
class Camera30Options:
    model: str = option(
        "--camera30-model", default="int8", choices=("int8", "fp32"), help="which of --int8-model/--fp32-model"
    )
    threads: int = option("--camera30-threads", default=2, parse=int, help="the node's inference threads (2)")
    hz: float = option("--camera30-hz", default=30.0, parse=float)
    seconds: float = option("--camera30-seconds", default=10.0, parse=float)
    size: tuple[int, int] = option(
        "--camera30-size", default=(360, 480), parse=_size, help="camera frame size HxW (360x480)"
    )


def _run_camera(args: argparse.Namespace, out_dir: Path) -> SectionResult:
    from .camera import CameraSettings, camera_note, run_camera
    from .models import resolve_models
    from .sections import SectionResult, format_table

    opts = options_from(args, Camera30Options)
    models, notes = resolve_models(args)
    chosen = [m for m in models if m.label == opts.model.upper()]
    if not chosen:
        return SectionResult([], f"skipped: no {opts.model.upper()} model", notes=notes)
    model = chosen[0]
    settings = CameraSettings(model.path, model.label, opts.threads, opts.hz, opts.seconds, opts.size)
    row = run_camera(settings)
    return SectionResult([row], format_table([row], CAMERA_COLUMNS), notes=[*notes, camera_note(row)])


def suite_sections() -> list[Section]:
    """The sections of this module, in the order `stdc-ros bench` runs them."""
    from .node_overhead import NodeBenchSettings
    from .sections import Section

    return [
        Section(
            "node",
            "node e2e vs bare runtime, transport, 30 Hz camera drops",
            _run_node,
            options=(NodeSizeOption, NodeBenchSettings),
            title="node section (node overhead and a 30 Hz camera)",
        ),
        Section(
            "postproc",
            "image conversion, output messages, drivable area per frame",
            _run_post,
            options=(PostOptions,),
            title="postproc section (image conversion, output messages, drivable area)",
        ),
        Section(
            "physical",
            "network MACs vs the fp32/int8 matmul peaks",
            _run_physical,
            options=(PhysicalOptions,),
            title="physical section (network MACs against the measured fp32 and int8 peaks)",
        ),
        Section(
            "peers",
            "ONNX Runtime vs OpenVINO on the FP32 and INT8 files",
            _run_peers,
            options=(PeerOptions,),
            title="peers section (ONNX Runtime and OpenVINO on the same files, interleaved)",
        ),
        Section(
            "camera30",
            "a 30 Hz camera through the node, INT8, 2 threads",
            _run_camera,
            options=(Camera30Options,),
            title="camera30 section (a camera through the node, every output subscribed)",
        ),
    ]
