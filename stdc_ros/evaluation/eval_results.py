"""From a finished run (``eval_run.RunState``) to its ``EvalReport`` (counts, scores, latency, losses, notes) and the
files beside it: report.json, report.md and the pictures (per-class IoU, latency histogram, overlay strip)."""

from __future__ import annotations

import logging
from pathlib import Path

from ..labels import LabelSet
from ..plots import StripFrame, overlays_strip, plot_iou_bars, plot_latency_hist
from ..rosbag.io import open_bag
from .eval_run import RunState
from .options import EvalOptions
from .report import EvalReport
from .scoring import latency_stats

LOG = logging.getLogger(__name__)
LATENCY_DEFINITIONS = {  # what the report's latency measures, per mode
    "lossless": "publish of a frame to arrival of its labels (one frame in flight): the node's service time "
    "including transport both ways",
    "realtime": "publish of a frame (at the recorded pace) to arrival of its labels, including any queueing: "
    "what now - header.stamp shows on a vehicle whose camera stamps at publish",
    "recorded": "bag log time of the recorded labels minus their header stamp",
}


def build_report(
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
    """The report of a finished run: frame counts by outcome, scores, latency, throughput and notes."""
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


def write_outputs(
    report: EvalReport, state: RunState, out_dir: Path, label_set: LabelSet, options: EvalOptions
) -> None:
    """The pictures (unless ``options.plots`` is off), report.json and report.md into ``out_dir``; ``report`` gets
    their paths."""
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
