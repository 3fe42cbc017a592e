"""The main job, end to end on real driving frames: sample bag -> node -> lossless and real-time evaluation.

1. builds a rosbag2 from the CamVid test frames shipped in samples/camvid_demo (with their labels),
2. starts the node (`stdc-ros run`) with the model the node itself picks on ONNX Runtime (CPU): the INT8 file on a
   CPU with int8 dot products, else the FP32 one (``precision: auto``; ``--model`` for another), and evaluates it
   frame by frame (lossless: accuracy) and at the bag's rate (real time: drops and latency),
3. prints a short summary and the paths of the reports, pictures and output bags.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from .node.model_choice import packaged_model, resolve_precision
from .resources import find_share_file

log = logging.getLogger("stdc_ros.demo")

DEFAULT_MODEL = packaged_model(resolve_precision("auto", "onnxruntime", "cpu"))  # what the node runs on a CPU
SAMPLE = "samples/camvid_demo"
CAMVID_PITCH = -0.09  # rad


@dataclass
class DemoResult:
    bag: Path
    lossless: object  # stdc_ros.evaluation.report.EvalReport
    realtime: object | None
    wall_s: float
    birdseye: Path | None = None  # last frame's overlay beside the bird's-eye drivable grid


def run_demo(
    out_dir: Path,
    model: Path | None = None,
    backend: str = "onnxruntime",
    rate_hz: float = 10.0,
    frames: int = 0,
    realtime: bool = True,
    progress: bool = True,
) -> DemoResult:
    from .evaluation.evaluate import EvalOptions, evaluate_bag
    from .rosbag.make_bag import make_bag

    started = time.monotonic()
    sample = find_share_file(SAMPLE)
    model = Path(model) if model else find_share_file(DEFAULT_MODEL)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bag = make_bag(
        sample / "images",
        out_dir / "camvid_demo_bag",
        labels_dir=sample / "labels",
        rate_hz=rate_hz,
        limit=frames,
        overwrite=True,
        progress=progress,
    )
    # CamVid's camera looks slightly up (horizon near row 218 of 360): see docs/drivable.md.
    options = EvalOptions(progress=progress, node_params={"drivable.camera_pitch": str(CAMVID_PITCH)})
    lossless = evaluate_bag(bag, out_dir / "lossless", "lossless", model, backend, options)
    live = evaluate_bag(bag, out_dir / "realtime", "realtime", model, backend, options) if realtime else None
    birdseye = None
    if lossless.output_bag is not None:
        birdseye = render_birdseye_from_bag(lossless.output_bag, out_dir / "lossless" / "birdseye.png")
    return DemoResult(bag, lossless, live, time.monotonic() - started, birdseye)


def render_birdseye_from_bag(output_bag: Path, out_png: Path, node_name: str = "stdc_eval") -> Path | None:
    """The last overlay beside the bird's-eye drivable grid of the same frame, from an eval output bag."""
    import cv2
    import numpy as np

    from .drivable.grid import OccupancyGridData
    from .drivable.render import render_birdseye, side_by_side
    from .rosbag.io import messages, open_bag, typestore

    store = typestore()
    overlays: dict[int, np.ndarray] = {}
    grids: dict[int, OccupancyGridData] = {}
    wanted = (f"/{node_name}/out/overlay", f"/{node_name}/out/drivable_grid")
    with open_bag(output_bag) as reader:
        for topic, msgtype, _, raw in messages(reader, wanted):
            msg = store.deserialize_cdr(raw, msgtype)
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            if topic.endswith("overlay"):
                overlays[stamp] = np.asarray(msg.data, np.uint8).reshape(msg.height, msg.step)[:, : msg.width * 3]
                overlays[stamp] = overlays[stamp].reshape(msg.height, msg.width, 3)
            else:
                info = msg.info
                grids[stamp] = OccupancyGridData(
                    np.asarray(msg.data, np.int8).reshape(info.height, info.width),
                    info.resolution, info.width, info.height, info.origin.position.x, info.origin.position.y,
                )  # fmt: skip
    common = sorted(set(overlays) & set(grids))
    if not common:
        return None
    picture = side_by_side(overlays[common[-1]], render_birdseye(grids[common[-1]]))
    cv2.imwrite(str(out_png), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    return out_png


def summary(result: DemoResult) -> str:
    ll = result.lossless
    lines = [
        "",
        f"stdc_ros demo: {ll.frames} CamVid test frames (360x480) from {result.bag}",
        f"model {ll.model}, backend {ll.backend} on this machine's CPU",
        "",
        "| mode | frames scored | mIoU | drivable IoU | drivable F1 | latency p50 / p90 / p99 (ms) | FPS | dropped |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in (result.lossless, result.realtime):
        if r is None:
            continue
        lines.append(
            f"| {r.mode} | {r.scored}/{r.frames} | {100 * r.miou:.1f}% | {100 * r.drivable_iou:.1f}% | "
            f"{100 * r.drivable_f1:.1f}% | {r.latency_p50_ms:.0f} / {r.latency_p90_ms:.0f} / "
            f"{r.latency_p99_ms:.0f} | {r.throughput_fps:.1f} | {r.dropped} |"
        )
    lines.append("")
    for r in (result.lossless, result.realtime):
        if r is None:
            continue
        lines.append(f"{r.mode} report: {r.report_md}")
        lines.append(f"{r.mode} pictures: {r.iou_png}, {r.latency_png}, {r.overlays_png}")
        lines.append(f"{r.mode} output bag (open in Foxglove or RViz): {r.output_bag}")
    if result.birdseye:
        lines.append(f"drivable area, bird's-eye beside the overlay: {result.birdseye}")
    lines.append(f"demo took {result.wall_s:.0f} s")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="folder for bags and reports")
    parser.add_argument("--model", type=Path, default=None, help=f"ONNX model (default: the shipped {DEFAULT_MODEL})")
    parser.add_argument("--backend", default="onnxruntime", help="onnxruntime (default), torch or tensorrt")
    parser.add_argument("--rate", type=float, default=10.0, help="bag rate in Hz (CamVid frames are 1 s apart)")
    parser.add_argument("--frames", type=int, default=0, help="use only the first N sample frames")
    parser.add_argument("--no-realtime", action="store_true", help="skip the real-time run")


def run(args: argparse.Namespace) -> int:
    result = run_demo(args.out, args.model, args.backend, args.rate, args.frames, not args.no_realtime)
    print(summary(result))
    failed = result.lossless.scored == 0
    return 1 if failed else 0
