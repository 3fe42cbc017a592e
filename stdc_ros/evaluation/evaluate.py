"""``stdc-ros eval BAG``: run the segmentation node on a bag and score it against the ground truth in the bag.

Modes:
  lossless   every frame, in order; the next is published once the previous result arrived (accuracy).
  realtime   frames published at the recorded rate (times --rate), best effort; frames without a result are
             dropped, as on a vehicle (latency, drops).
  recorded   no node: score predictions already recorded in the bag (an ``.../out/labels`` topic).

Writes report.md, report.json, iou_per_class.png, latency_hist.png, overlays_strip.png, node.log and an output
bag (MCAP) with the input and every output topic of the node.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path

import numpy as np

from ..cli_options import add_options, options_from
from ..errors import BagError, StdcRosError
from ..labels import load_label_set
from ..rosbag.io import BagWriter, bag_summary, open_bag
from .eval_inputs import BagInputs, scan_inputs
from .eval_live import run_live
from .eval_results import build_report, write_outputs
from .eval_run import RunState, score_recorded
from .options import MODES, EvalCommand, EvalOptions, Mode
from .report import EvalReport
from .scoring import Scorer

__all__ = ["MODES", "EvalCommand", "EvalOptions", "EvalReport", "Mode", "add_arguments", "evaluate_bag", "run"]
LOG = logging.getLogger(__name__)


def evaluate_bag(
    bag: Path,
    out_dir: Path,
    mode: Mode = "lossless",
    model_path: Path | None = None,
    backend: str = "onnxruntime",
    options: EvalOptions | None = None,
    **overrides: object,
) -> EvalReport:
    """Evaluate ``bag`` and write the report into ``out_dir``; keyword ``overrides`` set EvalOptions fields."""
    from tqdm import tqdm

    options = dataclasses.replace(options or EvalOptions(), **overrides)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if options.rate <= 0:
        raise ValueError(f"rate must be positive, got {options.rate}")
    bag, out_dir = Path(bag), Path(out_dir)
    label_set = load_label_set(options.label_set)
    summary = bag_summary(bag)
    if summary.message_count == 0:
        raise BagError(f"{bag} holds no messages")
    out_dir.mkdir(parents=True, exist_ok=True)
    live = mode != "recorded"
    writer = BagWriter(out_dir / "output_bag", "mcap", overwrite=True) if live and options.output_bag else None
    t_start = time.monotonic()
    exit_code: int | None = None
    node_log = out_dir / "node.log" if live else None
    with open_bag(bag) as reader, writer or _Null():
        inputs = scan_inputs(
            reader,
            summary,
            image_topic=options.image_topic,
            gt_topic=options.gt_topic,
            predictions_topic=options.predictions_topic,
            recorded=not live,
            tolerance_ns=round(options.tolerance_ms * 1e6),
            max_frames=options.max_frames,
            copy_to=writer,
        )
        strip = _strip_indices(inputs, options.strip_frames)
        state = RunState(inputs, Scorer(label_set), writer.store if writer else _typestore(), strip, writer)
        state.sent.tolerance_ns = round(options.tolerance_ms * 1e6)
        LOG.info(
            "%s: %d frames on %s, ground truth %s",
            bag,
            len(inputs.frames),
            inputs.image_topic.name,
            inputs.gt_topic or "none",
        )
        if live:
            exit_code = run_live(state, reader, mode, model_path, backend, options, node_log, tqdm)
        else:
            score_recorded(state)
    wall_s = time.monotonic() - t_start
    report = build_report(state, bag, mode, model_path, backend, options, label_set.name, wall_s, exit_code)
    report.node_log = node_log
    report.output_bag = writer.path if writer else None
    write_outputs(report, state, out_dir, label_set, options)
    LOG.info(
        "mIoU %.2f %%, %d/%d frames with a result, dropped %d, failed %d; report in %s",
        100 * report.miou if report.miou == report.miou else float("nan"),
        report.processed,
        report.frames,
        report.dropped,
        report.failed,
        out_dir,
    )
    return report


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _typestore() -> object:
    from ..rosbag.io import typestore

    return typestore()


def _strip_indices(inputs: BagInputs, count: int) -> set[int]:
    if count <= 0 or not inputs.frames:
        return set()
    with_gt = [f for f in inputs.frames if inputs.truth.nearest(f.stamp_ns) is not None] or inputs.frames
    picks = np.linspace(0, len(with_gt) - 1, min(count, len(with_gt))).round().astype(int)
    return {with_gt[int(i)].index for i in picks}


# --- command line ------------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = __doc__
    add_options(parser, EvalCommand)
    add_options(parser, EvalOptions)


def run(args: argparse.Namespace) -> int:
    command = options_from(args, EvalCommand)
    try:
        report = evaluate_bag(
            command.bag,
            command.out,
            command.mode,
            command.model,
            command.backend,
            options_from(args, EvalOptions),
        )
    except (StdcRosError, FileNotFoundError, ValueError) as exc:
        LOG.error("%s", exc)
        return 2
    print(report.markdown())
    return 0 if report.ok else 1
