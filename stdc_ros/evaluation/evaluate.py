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
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..cli_options import add_options, negated, none_word, option, options_from
from ..errors import BagError, StdcRosError
from ..harness.domains import pick_domain_id
from ..harness.node_process import NodeLaunch, NodeProcess, NodeProcessError
from ..harness.recorder import NodeClient
from ..labels import LabelSet, load_label_set
from ..plots import StripFrame, overlays_strip, plot_iou_bars, plot_latency_hist
from ..rosbag.io import BagWriter, bag_summary, open_bag
from ..rosbag.ros import dds_environment, wait_until
from .eval_inputs import BagInputs, scan_inputs
from .eval_run import LiveRun, RunState, score_recorded
from .report import EvalReport
from .scoring import Scorer, latency_stats

LOG = logging.getLogger(__name__)
Mode = Literal["lossless", "realtime", "recorded"]
MODES: tuple[str, ...] = ("lossless", "realtime", "recorded")
LATENCY_DEFINITIONS = {
    "lossless": "publish of a frame to arrival of its labels (one frame in flight): the node's service time "
    "including transport both ways",
    "realtime": "publish of a frame (at the recorded pace) to arrival of its labels, including any queueing: "
    "what now - header.stamp shows on a vehicle whose camera stamps at publish",
    "recorded": "bag log time of the recorded labels minus their header stamp",
}


def _param(item: str) -> tuple[str, str]:
    name, sep, value = item.partition(":=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME:=VALUE, got {item!r}")
    return name, value


@dataclass
class EvalOptions:
    """Everything about an evaluation except the bag, the output folder, the mode, the model and the backend."""

    # default /camera/image_raw, else the first image topic
    image_topic: str | None = option("--image-topic", default=None, help="camera topic (default /camera/image_raw)")
    # default /camera/labels_gt, else an Image topic with "gt" in its name
    gt_topic: str | None = option("--gt-topic", default=None, help="ground-truth topic (default /camera/labels_gt)")
    # recorded mode; default the first .../out/labels topic
    predictions_topic: str | None = option(
        "--predictions-topic", default=None, help="recorded mode: the labels topic to score"
    )
    # name in config/labels or a YAML path
    label_set: str = option("--labels", default="camvid", help="label set name or YAML (default camvid)")
    # stamp matching tolerance (results <-> frames <-> ground truth)
    tolerance_ms: float = option(
        "--tolerance-ms", default=5.0, parse=float, help="stamp matching tolerance (default 5)"
    )
    # realtime: speed factor on the recorded pace
    rate: float = option("--rate", default=1.0, parse=float, help="realtime: speed factor (default 1)")
    max_frames: int = option("--max-frames", default=0, parse=int, help="evaluate only the first N frames")  # 0: all
    node_name: str = option("--node-name", default="stdc_eval", help="node name (default stdc_eval)")
    domain_id: int | None = option(
        "--domain-id", default=None, parse=int, help="ROS_DOMAIN_ID (default: a fresh one)"
    )  # None: a fresh one for this run
    # extra `-p name:=value` for the node
    node_params: dict[str, str] = option(
        "-p",
        "--param",
        default_factory=dict,
        cli_default=[],
        parse=_param,
        action="append",
        convert=dict,
        metavar="NAME:=VALUE",
        help="extra node parameter (repeatable)",
    )
    params_file: Path | None = option("--params-file", default=None, parse=Path, help="node parameters YAML")
    node_command: tuple[str, ...] | None = None  # default: this Python running `-m stdc_ros.cli run`
    qos_depth: int = 10  # lossless: the node's input queue depth (reliable)
    # node start, model load and discovery
    ready_timeout_s: float = option("--ready-timeout", default=120.0, parse=float, help="seconds to wait for the node")
    # lossless: give up on a frame after this long
    frame_timeout_s: float = option("--frame-timeout", default=30.0, parse=float, help="lossless: seconds per frame")
    first_frame_timeout_s: float = 120.0  # lossless: the first frame may include warm-up (engine build)
    resend_after_s: float = 5.0  # lossless: publish a frame again if its result has not come
    # Fast DDS XML profile for the node and us ("packaged": config/dds/fastdds_hd.xml, a 32 MiB shared-memory
    # segment that holds 1080p frames and the node's outputs; None: as set). Left alone where the user configured
    # Fast DDS (docs/bags.md, DDS transport). Our own participant gets it only if it is the process's first.
    dds_profile: str | None = option(
        "--dds-profile",
        default="packaged",
        convert=none_word,
        help="Fast DDS XML profile for the node and the evaluator, applied unless Fast DDS is configured in the "
        "environment ('packaged': config/dds/fastdds_hd.xml; 'none': leave DDS alone)",
    )
    # FASTDDS_BUILTIN_TRANSPORTS for the node and us when dds_profile is None (None: as set), e.g.
    # "LARGE_DATA?max_msg_size=1MB&sockets_size=4MB&non_blocking=true" (docs/bags.md, DDS transport).
    dds_transport: str | None = None
    # ROS_AUTOMATIC_DISCOVERY_RANGE for the node and us (None: as set). LARGE_DATA finds participants by UDP
    # multicast only; where multicast loops back unreliably (lo without MULTICAST) 1 start in 40 never found the
    # node. LOCALHOST adds unicast discovery on 127.0.0.1 (0 in 200) and keeps the private node off the network.
    discovery_range: str | None = "LOCALHOST"
    settle_s: float = 2.0  # after the last frame: stop listening once nothing arrived for this long
    strip_frames: int = 6
    output_bag: bool = negated("--no-output-bag", help="do not write the output bag")
    plots: bool = negated("--no-plots")
    progress: bool = negated("--no-progress")


@dataclass(frozen=True)
class EvalCommand:
    """The arguments of ``stdc-ros eval`` that are ``evaluate_bag``'s own (the rest are EvalOptions)."""

    bag: Path = option("bag", parse=Path, help="rosbag2 folder, .mcap or .db3 file")
    out: Path = option("--out", default=Path("eval_out"), parse=Path, help="report folder (default eval_out)")
    mode: Mode = option("--mode", default="lossless", choices=MODES, help="(default lossless)")
    model: Path | None = option("--model", default=None, parse=Path, help="model file for the node (default: its own)")
    backend: str = option("--backend", default="onnxruntime", help="node backend (default onnxruntime)")


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
            exit_code = _run_live(state, reader, mode, model_path, backend, options, node_log, tqdm)
        else:
            score_recorded(state)
    wall_s = time.monotonic() - t_start
    report = _build_report(state, bag, mode, model_path, backend, options, label_set.name, wall_s, exit_code)
    report.node_log = node_log
    report.output_bag = writer.path if writer else None
    _write_outputs(report, state, out_dir, label_set, options)
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


def _run_live(
    state: RunState,
    reader: object,
    mode: str,
    model_path: Path | None,
    backend: str,
    options: EvalOptions,
    node_log: Path | None,
    tqdm: type,
) -> int | None:
    """Start the node, wait until it is ready, run the frames through it, stop it; returns its exit code."""
    domain = options.domain_id if options.domain_id is not None else pick_domain_id()
    lossless = mode == "lossless"
    reliability, depth = ("reliable", options.qos_depth) if lossless else ("best_effort", 1)
    params = {"qos.reliability": reliability, "qos.depth": str(depth), **options.node_params}
    env = dds_environment(options.dds_transport, options.discovery_range, options.dds_profile)
    launch = NodeLaunch(
        name=options.node_name,
        params=params,
        model_path=model_path,
        backend=backend,
        params_file=options.params_file,
        domain_id=domain,
        log_path=node_log,
        env=env,
    )
    if options.node_command:
        launch.command = tuple(options.node_command)
    process = NodeProcess(launch)
    with process, NodeClient(options.node_name, domain, reliability, depth, ("/diagnostics",), env) as client:
        if not wait_until(lambda: client.ready() or not process.alive(), options.ready_timeout_s, 0.1):
            raise NodeProcessError(
                f"the node was not ready after {options.ready_timeout_s:.0f} s on ROS_DOMAIN_ID {domain}: "
                f"{client.discovery_state()}; log {node_log}:\n{process.log_tail()}"
            )
        if not process.alive():
            raise NodeProcessError(
                f"the node exited with code {process.returncode()} before it was ready; "
                f"log {node_log}:\n{process.log_tail()}"
            )
        LOG.info("node ready (domain %d); recording %s", domain, ", ".join(client.recorded_topics))
        run = LiveRun(state, client, process, reader)
        with tqdm(
            total=len(state.inputs.frames), desc=f"eval {mode}", unit="frame", disable=not options.progress
        ) as bar:
            if lossless:
                run.lossless(options.frame_timeout_s, options.first_frame_timeout_s, options.resend_after_s, bar)
            else:
                run.realtime(options.rate, bar)
        run.settle(options.settle_s, max(options.settle_s, options.frame_timeout_s))
        if not lossless:
            run.wait_counters(2.5)
        for frame in state.inputs.frames:
            if frame.record.status == "pending":
                frame.record.status = "dropped" if frame.t_pub is not None else "failed"
                frame.record.reason = "no result" if frame.t_pub is not None else "not published"
        code = process.stop()
    if code not in (0, None, -2, 130):
        state.notes.append(f"the node exited with code {code}; see {node_log}")
    return code


def _build_report(
    state: RunState,
    bag: Path,
    mode: str,
    model_path: Path | None,
    backend: str,
    options: EvalOptions,
    label_set: str,
    wall_s: float,
    exit_code: int | None,
) -> EvalReport:
    inputs = state.inputs
    records = sorted([f.record for f in inputs.frames] + inputs.failures, key=lambda r: r.index)
    failed = [r for r in records if r.status == "failed"]
    dropped = sum(r.status == "dropped" for r in records)
    if mode == "lossless":  # nothing is dropped on purpose in lossless mode: a missing result is a failure
        failed += [r for r in records if r.status == "dropped"]
        dropped = 0
    processed = sum(r.status in ("scored", "no_gt") for r in records)
    scores = state.scorer.summary()
    lat = latency_stats(state.latencies_ms)
    span = (state.t_last - state.t_first) if state.t_first is not None and state.t_last is not None else 0.0
    throughput = processed / span if span > 0 else float("nan")
    notes = [*inputs.notes, *state.notes]
    lost, node_dropped = _loss_split(state, mode)
    if lost:
        notes.append(
            f"{lost} frame(s) never reached the node: lost in DDS transport (frames over the shared-memory segment "
            "go over UDP fragments; the publisher's side needs the profile too: docs/node.md, HD cameras and DDS)"
        )
    if state.resends:
        notes.append(
            f"{state.resends} frame(s) were published again after {options.resend_after_s:.0f} s without a result"
        )
    if not inputs.truth and mode != "recorded":
        notes.append("no ground truth: only latency, throughput and drops are measured")
    return EvalReport(
        bag=bag,
        mode=mode,
        model=str(model_path) if model_path else "(node default)",
        backend=backend if mode != "recorded" else "(recorded)",
        label_set=label_set,
        frames=len(records),
        processed=processed,
        scored=sum(r.status == "scored" for r in records),
        dropped=dropped,
        failed=len(failed),
        miou=scores["miou"],
        pixel_accuracy=scores["pixel_accuracy"],
        per_class_iou=scores["per_class_iou"],
        drivable_iou=scores["drivable_iou"],
        drivable_f1=scores["drivable_f1"],
        latency_p50_ms=lat["p50"],
        latency_p90_ms=lat["p90"],
        latency_p99_ms=lat["p99"],
        latency_mean_ms=lat["mean"],
        latency_max_ms=lat["max"],
        throughput_fps=throughput,
        wall_s=wall_s,
        tolerance_ms=options.tolerance_ms,
        latency_definition=LATENCY_DEFINITIONS[mode],
        outputs=dict(state.outputs),
        confusion_matrix=scores["confusion_matrix"],
        failures=[{"index": r.index, "stamp_ns": r.stamp_ns, "reason": r.reason or r.status} for r in failed],
        frame_records=records,
        node_exit_code=exit_code,
        lost_in_transport=lost,
        dropped_by_node=node_dropped,
        notes=notes,
    )


def _loss_split(state: RunState, mode: str) -> tuple[int | None, int | None]:
    """Real time: (frames published that the node never received, frames it dropped for a newer one), from its
    /diagnostics counters (counted since activation; the evaluator is its only source); (None, None) without."""
    counters = state.node_counters
    if mode != "realtime" or "frames_received" not in counters:
        return None, None
    sent = sum(f.t_pub is not None for f in state.inputs.frames)
    try:
        received, dropped = int(counters["frames_received"]), int(counters.get("frames_dropped", "0"))
    except ValueError:
        return None, None
    return max(0, sent - received), dropped


def _write_outputs(
    report: EvalReport, state: RunState, out_dir: Path, label_set: LabelSet, options: EvalOptions
) -> None:
    if options.plots:
        title = f"{report.bag.name} ({report.mode}): mIoU {_pct(report.miou)}"
        report.iou_png = plot_iou_bars(report.per_class_iou, out_dir / "iou_per_class.png", title)
        percentiles = {"p50": report.latency_p50_ms, "p90": report.latency_p90_ms, "p99": report.latency_p99_ms}
        report.latency_png = plot_latency_hist(
            state.latencies_ms, percentiles, out_dir / "latency_hist.png", f"latency ({report.mode})"
        )
        strip = [
            StripFrame(f"#{f.index}", f.rgb, f.prediction, f.truth)
            for f in state.inputs.frames
            if f.index in state.strip and f.rgb is not None
        ]
        if not strip and report.mode == "recorded":
            strip = _recorded_strip(state)
        report.overlays_png = overlays_strip(strip, label_set, out_dir / "overlays_strip.png")
    report.report_json = out_dir / "report.json"
    report.report_md = out_dir / "report.md"
    report.write_json(report.report_json)
    report.write_markdown(report.report_md)


def _recorded_strip(state: RunState) -> list[StripFrame]:
    """Recorded mode keeps no pictures during scoring: read the strip frames' images back from the bag."""
    from ..rosbag.codec import image_msg_to_rgb
    from .eval_inputs import decode_labels, image_stream

    frames = []
    with open_bag(state.inputs.summary.path) as reader:
        for frame, raw, msgtype in image_stream(reader, state.inputs):
            if frame.index not in state.strip:
                continue
            try:
                rgb = image_msg_to_rgb(state.store.deserialize_cdr(raw, msgtype))  # type: ignore[attr-defined]
            except Exception as exc:
                LOG.warning("strip frame %d: %s", frame.index, exc)
                continue
            pred = state.inputs.predictions.nearest(frame.stamp_ns)
            truth = state.inputs.truth.nearest(frame.stamp_ns)
            frames.append(
                StripFrame(
                    f"#{frame.index}",
                    rgb,
                    decode_labels(pred[1][1]) if pred else None,
                    decode_labels(truth[1]) if truth else None,
                )
            )
    return frames


def _pct(value: float) -> str:
    return "n/a" if value != value else f"{100 * value:.1f} %"


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
