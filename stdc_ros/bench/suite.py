"""`stdc-ros bench` sections beyond the runtimes: node overhead and a 30 Hz camera, per-frame post-processing
cost, and the physical limit (MACs against the measured matmul peak, with profiles).

Each section adds its own arguments and returns a ``SectionResult`` (see ``cli.py``); ``suite_sections()`` lists
them for ``cli.SECTIONS``. Nothing here is a timed test: the figures are printed and saved, and
docs/performance.md records them with the command that produced each.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .cli import Section, SectionResult

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


# ---------------------------------------------------------------------------------------------- node
NODE_COLUMNS = (
    ("measure", "measure", ""),
    ("size", "size", ""),
    ("p50_ms", "p50 ms", ".2f"),
    ("p90_ms", "p90 ms", ".2f"),
    ("p99_ms", "p99 ms", ".2f"),
    ("n", "n", "d"),
)


def _node_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("node section (node overhead and a 30 Hz camera)")
    g.add_argument("--node-size", type=_size, default=(360, 480), help="frame and network size HxW (360x480)")
    g.add_argument("--node-variant", default="stdc1", choices=("stdc1", "stdc2"))
    g.add_argument("--node-model", type=Path, help="a full-convention ONNX at --node-size instead of random weights")
    g.add_argument("--node-iters", type=int, default=20, help="frames per round and measurement (20)")
    g.add_argument("--node-rounds", type=int, default=3, help="interleaved rounds (3)")
    g.add_argument("--node-threads", type=int, default=1, help="inference threads, bare runtime and node alike (1)")
    g.add_argument("--camera-hz", type=float, default=30.0)
    g.add_argument("--camera-seconds", type=float, default=10.0)
    g.add_argument("--model-dir", type=Path, default=Path("runs/bench/models"), help="exported models are kept here")


def _run_node(args: argparse.Namespace, out_dir: Path) -> SectionResult:
    from .cli import SectionResult, format_table
    from .node_overhead import NodeBenchSettings, run_node_bench

    settings = NodeBenchSettings(
        height=args.node_size[0],
        width=args.node_size[1],
        variant=args.node_variant,
        model=args.node_model,
        iters=args.node_iters,
        rounds=args.node_rounds,
        threads=args.node_threads,
        camera_hz=args.camera_hz,
        camera_seconds=args.camera_seconds,
        model_dir=args.model_dir,
    )
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


def _post_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("postproc section (image conversion, output messages, drivable area)")
    g.add_argument("--post-size", type=_size, default=(360, 480), help="frame size HxW (360x480)")
    g.add_argument("--post-iters", type=int, default=200, help="timed repetitions per item (200)")


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
    from .cli import SectionResult, format_table
    from .codec import bench_codec
    from .drivable import bench_drivable

    height, width = args.post_size
    rows: list[dict[str, Any]] = []
    for encoding, p50 in bench_codec(height, width, repeats=args.post_iters, show=False).items():
        rows.append({"stage": "input decode", "what": encoding, "p50_ms": p50, "p90_ms": None})
    for what, (p50, p90) in output_message_costs(height, width, args.post_iters).items():
        rows.append({"stage": "output message", "what": what, "p50_ms": p50, "p90_ms": p90})
    drivable = bench_drivable(iters=args.post_iters)
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
    ("gmacs", "GMACs", ".2f"),
    ("best_ms", "best ms", ".1f"),
    ("p50_ms", "p50 ms", ".1f"),
    ("achieved_gflops", "GFLOP/s", ".1f"),
    ("peak_gflops", "peak GFLOP/s", ".1f"),
    ("utilisation_pct", "util %", ".1f"),
    ("utilisation_p50_pct", "util p50 %", ".1f"),
    ("floor_ms", "floor ms", ".1f"),
)


def _physical_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("physical section (MACs against the measured matmul peak, profiles)")
    g.add_argument("--physical-variants", default="stdc1,stdc2")
    g.add_argument("--physical-sizes", default="360x480,720x960")
    g.add_argument("--physical-onnx-sizes", default="360x480", help="sizes also timed in ONNX Runtime (export once)")
    g.add_argument("--physical-iters", type=int, default=5)
    g.add_argument(
        "--physical-threads",
        type=int,
        default=1,
        help="threads for the peak and the networks (default 1: with another job on the cores, OpenMP teams of 2 "
        "wait for each other and run 4-5x slower); 0 = the libraries' default",
    )
    g.add_argument("--peak-n", type=int, default=2048, help="matrix size of the peak matmul")
    g.add_argument("--no-profile", dest="profile", action="store_false", help="skip the operator profiles")


def _run_physical(args: argparse.Namespace, out_dir: Path) -> SectionResult:
    from .cli import SectionResult, format_table
    from .physical import matmul_peak, profile_onnxruntime, profile_torch, utilisation
    from .soak import export_random_model

    threads = args.physical_threads or None
    peaks = matmul_peak(args.peak_n, threads=threads)

    def probe() -> float:
        return max(p.best_gflops for p in matmul_peak(args.peak_n, repeats=3, threads=threads))

    variants = [v.strip() for v in args.physical_variants.split(",") if v.strip()]
    sizes = _sizes(args.physical_sizes)
    onnx_models = {
        (v, s): export_random_model(args.model_dir, v, s) for v in variants for s in _sizes(args.physical_onnx_sizes)
    }
    results, peak = utilisation(variants, sizes, probe, args.physical_iters, onnx_models, threads)
    peak = max(peak, *(p.best_gflops for p in peaks))
    for u in results:
        u.peak_gflops = peak
    rows = [u.row() for u in results]
    if threads != os.cpu_count():  # for reference: every core
        peaks += matmul_peak(args.peak_n, threads=os.cpu_count(), numpy=True)
    table = format_table(rows, PHYSICAL_COLUMNS)
    notes = [
        "matmul peak "
        + "; ".join(
            f"{p.library} {p.n}x{p.n} fp32, {p.threads or 'BLAS default'} thread(s): best {p.best_gflops:.1f} "
            f"GFLOP/s, median {p.median_gflops:.1f}"
            for p in peaks
        ),
        f"peak used: {peak:.1f} GFLOP/s (best matmul seen during the section at {threads or 'default'} thread(s)); "
        "utilisation = 2 x MACs / best network time / peak (util p50 % from the p50 time); floor = the network "
        "time at 100 % of the peak",
    ]
    extra: list[dict[str, Any]] = [{"peaks": [p.__dict__ for p in peaks]}]
    if args.profile:
        first = variants[0] if variants else "stdc1"
        torch_table = profile_torch(first, sizes[0] if sizes else (360, 480), threads=threads)
        table += f"\n\ntorch.profiler, {first} eager forward, top operators by self CPU time:\n{torch_table}"
        model = next(iter(onnx_models.values()), None)
        if model is not None:
            ops = profile_onnxruntime(model, threads=threads)
            lines = [f"  {o['op']:<28s} {o['ms_per_run']:8.2f} ms/run {o['share_pct']:6.1f} %" for o in ops]
            table += f"\nONNX Runtime profiler, {model.name} (whole graph), time per operator type:\n" + "\n".join(
                lines
            )
            extra.append({"onnxruntime_profile": ops})
        extra.append({"torch_profile": torch_table})
    return SectionResult(rows + extra, table, notes=notes)


def suite_sections() -> list[Section]:
    """The sections of this module, in the order `stdc-ros bench` runs them."""
    from .cli import Section

    return [
        Section("node", "node e2e vs bare runtime, transport, 30 Hz camera drops", _run_node, _node_arguments),
        Section("postproc", "image conversion, output messages, drivable area per frame", _run_post, _post_arguments),
        Section("physical", "network MACs vs matmul peak, operator profiles", _run_physical, _physical_arguments),
    ]
