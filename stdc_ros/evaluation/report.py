"""The result of ``stdc-ros eval``: a dataclass, written as JSON and Markdown."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .scoring import FrameRecord


@dataclass
class EvalReport:
    """Scores of one evaluation run; IoU, accuracy and F1 are fractions (1.0 = 100 %), latencies in ms."""

    bag: Path
    mode: str
    model: str
    backend: str
    label_set: str
    frames: int  # input frames considered
    processed: int  # frames with a result
    scored: int  # results matched to ground truth and scored
    dropped: int  # frames published that never got a result (real time and recorded modes)
    failed: int  # frames that could not be read, published or answered in time (lossless mode)
    miou: float
    pixel_accuracy: float
    per_class_iou: dict[str, float | None]
    drivable_iou: float
    drivable_f1: float
    latency_p50_ms: float
    latency_p90_ms: float
    latency_p99_ms: float
    latency_mean_ms: float
    latency_max_ms: float
    throughput_fps: float
    wall_s: float
    tolerance_ms: float
    latency_definition: str
    outputs: dict[str, int] = field(default_factory=dict)  # output topic -> messages received
    confusion_matrix: list[list[int]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    frame_records: list[FrameRecord] = field(default_factory=list)
    node_exit_code: int | None = None
    # Real-time mode, from the node's /diagnostics counters: frames we published that never reached the node
    # (sent - frames_received) and frames it received but replaced by a newer one (frames_dropped); None: unknown.
    lost_in_transport: int | None = None
    dropped_by_node: int | None = None
    notes: list[str] = field(default_factory=list)
    report_md: Path | None = None
    report_json: Path | None = None
    iou_png: Path | None = None
    latency_png: Path | None = None
    overlays_png: Path | None = None
    output_bag: Path | None = None
    node_log: Path | None = None

    @property
    def ok(self) -> bool:
        return self.node_exit_code in (None, 0) and self.processed > 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return _jsonable(data)

    def write_json(self, path: Path) -> Path:
        path.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")
        return path

    def write_markdown(self, path: Path) -> Path:
        path.write_text(self.markdown())
        return path

    def markdown(self) -> str:
        out = [
            f"# Evaluation of `{self.bag.name}` ({self.mode})",
            "",
            f"- bag: `{self.bag}`",
            f"- model: `{self.model}` ({self.backend}), label set `{self.label_set}`",
            f"- frames {self.frames}, with a result {self.processed}, scored {self.scored}, "
            f"dropped {self.dropped}, failed {self.failed}",
            *self._loss_lines(),
            f"- latency: {self.latency_definition}",
            "",
            "| metric | value |",
            "|---|---|",
            f"| mIoU | {_pct(self.miou)} |",
            f"| pixel accuracy | {_pct(self.pixel_accuracy)} |",
            f"| drivable IoU | {_pct(self.drivable_iou)} |",
            f"| drivable F1 | {_pct(self.drivable_f1)} |",
            f"| latency p50 / p90 / p99 | {_ms(self.latency_p50_ms)} / {_ms(self.latency_p90_ms)} / "
            f"{_ms(self.latency_p99_ms)} |",
            f"| latency mean / max | {_ms(self.latency_mean_ms)} / {_ms(self.latency_max_ms)} |",
            f"| throughput | {_num(self.throughput_fps, 'fps')} |",
            f"| wall time | {_num(self.wall_s, 's')} |",
            "",
            "## Per-class IoU",
            "",
            "| class | IoU |",
            "|---|---|",
            *[f"| {name} | {'n/a' if v is None else _pct(v)} |" for name, v in self.per_class_iou.items()],
            "",
        ]
        if self.outputs:
            out += ["## Output topics", "", "| topic | messages |", "|---|---|"]
            out += [f"| `{t}` | {n} |" for t, n in sorted(self.outputs.items())] + [""]
        pictures = [p for p in (self.iou_png, self.latency_png, self.overlays_png) if p is not None]
        if pictures:
            out += ["## Pictures", ""] + [f"![{p.stem}]({p.name})" for p in pictures] + [""]
        if self.output_bag is not None:
            out += [f"Output bag (input and every output topic): `{self.output_bag}` (open it in Foxglove).", ""]
        if self.failures:
            out += ["## Failed frames", "", "| frame | stamp (ns) | reason |", "|---|---|---|"]
            out += [f"| {f['index']} | {f['stamp_ns']} | {f['reason']} |" for f in self.failures[:50]]
            if len(self.failures) > 50:
                out.append(f"| ... | | {len(self.failures) - 50} more in report.json |")
            out.append("")
        if self.notes:
            out += ["## Notes", "", *[f"- {n}" for n in self.notes], ""]
        return "\n".join(out)

    def _loss_lines(self) -> list[str]:
        if self.lost_in_transport is None and self.dropped_by_node is None:
            return []
        lost = "unknown" if self.lost_in_transport is None else str(self.lost_in_transport)
        dropped = "unknown" if self.dropped_by_node is None else str(self.dropped_by_node)
        return [
            f"- of the frames without a result: lost in transport {lost} (never reached the node), dropped by the "
            f"node {dropped} (a newer frame replaced it: the node was busy)"
        ]


def _pct(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.2f} %"


def _ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1f} ms"


def _num(value: float, unit: str) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f} {unit}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
