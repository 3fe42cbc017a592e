"""Rolling pipeline statistics and their diagnostic_msgs/DiagnosticStatus (published on /diagnostics at 1 Hz).

``PipelineStats`` is fed from the subscription callback and the worker thread (thread-safe); ``assess`` turns
a snapshot into an OK/WARN/ERROR level and message; ``to_status`` builds the message with the documented keys.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from .input_gaps import InputGaps

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


@dataclass(frozen=True)
class StatsSnapshot:
    received: int = 0
    processed: int = 0
    dropped: int = 0
    rejected: int = 0
    failed: int = 0
    rejected_recent: int = 0  # within the rate window
    input_rate_hz: float = 0.0
    output_rate_hz: float = 0.0
    inference_ms_p50: float | None = None
    inference_ms_p99: float | None = None
    latency_ms_p50: float | None = None
    latency_ms_p99: float | None = None
    seconds_since_input: float = 0.0
    last_rejection: str = ""
    last_error: str = ""  # set by a failed inference, cleared by the next success
    lost_before_node: int = 0  # estimated from gaps in the input stamps (input_gaps.py)
    lost_before_node_recent: int = 0  # the same, within the rate window
    camera_period_ms: float | None = None  # measured from the input stamps


@dataclass
class PipelineStats:
    """Counters, rate windows and latency samples of one activation (``reset`` on activate)."""

    window_s: float = 5.0
    samples: int = 300
    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._start = self.clock()
            self._last_input: float | None = None
            self._inputs: deque[float] = deque()
            self._outputs: deque[float] = deque()
            self._rejections: deque[float] = deque()
            self._inference: deque[float] = deque(maxlen=self.samples)
            self._latency: deque[float] = deque(maxlen=self.samples)
            self._counts = {"received": 0, "processed": 0, "dropped": 0, "rejected": 0, "failed": 0}
            self._last_rejection = ""
            self._last_error = ""
            self._gaps = InputGaps(recent_s=self.window_s)

    def on_received(self, dropped_older: bool, stamp_ns: int = 0, source: object = None) -> None:
        """A frame arrived (``stamp_ns``: its header stamp, 0 if unknown; ``source``: what tells cameras or modes
        apart, e.g. frame id and size); ``dropped_older``: it replaced one."""
        with self._lock:
            now = self.clock()
            self._gaps.add(stamp_ns, now, source)
            self._last_input = now
            self._inputs.append(now)
            self._counts["received"] += 1
            self._counts["dropped"] += int(dropped_older)

    def on_rejected(self, reason: str) -> None:
        with self._lock:
            self._rejections.append(self.clock())
            self._counts["rejected"] += 1
            self._last_rejection = reason

    def on_failed(self, reason: str) -> None:
        with self._lock:
            self._counts["failed"] += 1
            self._last_error = reason

    def on_processed(self, inference_s: float, latency_s: float | None) -> None:
        with self._lock:
            self._outputs.append(self.clock())
            self._counts["processed"] += 1
            self._inference.append(inference_s * 1000.0)
            if latency_s is not None:
                self._latency.append(latency_s * 1000.0)
            self._last_error = ""

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            now = self.clock()
            for times in (self._inputs, self._outputs, self._rejections):
                while times and times[0] < now - self.window_s:
                    times.popleft()
            span = max(min(self.window_s, now - self._start), 1e-3)
            inference = _percentiles(self._inference)
            latency = _percentiles(self._latency)
            return StatsSnapshot(
                **self._counts,
                rejected_recent=len(self._rejections),
                input_rate_hz=len(self._inputs) / span,
                output_rate_hz=len(self._outputs) / span,
                inference_ms_p50=inference[0],
                inference_ms_p99=inference[1],
                latency_ms_p50=latency[0],
                latency_ms_p99=latency[1],
                seconds_since_input=now - (self._last_input if self._last_input is not None else self._start),
                last_rejection=self._last_rejection,
                last_error=self._last_error,
                lost_before_node=self._gaps.lost,
                lost_before_node_recent=self._gaps.recent(now),
                camera_period_ms=None if (period := self._gaps.period_ns()) is None else period / 1e6,
            )


def _percentiles(values: deque[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    p50, p99 = np.percentile(np.fromiter(values, float), [50, 99])
    return float(p50), float(p99)


@dataclass(frozen=True)
class NodeHealth:
    """What the node knows besides the counters."""

    state: str  # unconfigured, configuring (a model load runs), inactive, active, finalized
    input_topic: str
    backend: str = ""
    model: str = ""
    configure_error: str = ""
    no_input_timeout: float = 5.0
    latency_warn_ms: float = 0.0
    idle: bool = False  # active, but nobody subscribes to any output
    configure_progress: str = ""  # while configuring: "loading model", or the backend's latest progress text
    provider_fallback: str = ""  # why the runtime runs on another provider than the one asked ("" = none)
    camera_pose: str = ""  # where the last grid/scan took the camera pose from ("" = no grid/scan computed)
    camera_pose_error: str = ""  # why TF could not give it
    intrinsics: str = ""  # which intrinsics the last grid/scan used ("" = none computed)
    intrinsics_fallback: bool = False  # they were the configured fallback (no usable camera_info)
    input_publishers: int = -1  # publishers matched on the input topic (-1: unknown)


TRANSPORT_HINT = (
    "likely frames larger than the DDS shared-memory segment (512 KB by default) lost over UDP fragments: give "
    "the camera driver's process the DDS profile too (docs/node.md, HD cameras and DDS)"
)


def assess(stats: StatsSnapshot, health: NodeHealth) -> tuple[int, str]:
    """(level, message): ERROR for a failed configure or a failing backend; WARN for no/bad input, lag, a provider
    fallback, fallback intrinsics or a failing TF lookup (the first that applies names the problem)."""
    if health.configure_error:
        return ERROR, f"configure failed: {health.configure_error}"
    if health.state == "configuring":
        return OK, f"configuring: {health.configure_progress or 'loading model'}"
    if health.state != "active":
        if health.provider_fallback:
            return WARN, f"{health.state}: provider fallback: {health.provider_fallback}"
        return OK, f"{health.state}: not processing"
    if stats.last_error:
        return ERROR, f"inference failing: {stats.last_error}"
    if stats.rejected_recent:
        return WARN, f"rejected {stats.rejected_recent} bad frame(s): {stats.last_rejection}"
    if stats.seconds_since_input > health.no_input_timeout:
        message = f"no input on {health.input_topic} for {stats.seconds_since_input:.1f} s"
        if health.input_publishers > 0:
            message += f" from {health.input_publishers} publisher(s): {TRANSPORT_HINT}"
        return WARN, message
    if stats.lost_before_node_recent and health.input_publishers != 0:
        return WARN, (
            f"~{stats.lost_before_node_recent} frame(s) lost before the node (gaps in the input stamps, camera period "
            f"{_fmt(stats.camera_period_ms)} ms): {TRANSPORT_HINT}"
        )
    latency = stats.latency_ms_p50
    if health.latency_warn_ms > 0 and latency is not None and latency > health.latency_warn_ms:
        hint = " (stamps far from the node clock: bag replay needs use_sim_time and /clock)" if latency > 3.6e6 else ""
        return WARN, f"pipeline latency p50 {latency:.0f} ms > {health.latency_warn_ms:.0f} ms{hint}"
    if health.provider_fallback:
        return WARN, f"provider fallback: {health.provider_fallback}"
    if health.intrinsics_fallback:
        return WARN, f"drivable geometry uses {health.intrinsics}"
    if health.camera_pose_error:
        return WARN, f"camera pose from the parameters: TF {health.camera_pose_error}"
    if health.idle:
        return OK, "idle: no subscribers"
    return OK, "running"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def to_status(name: str, hardware_id: str, stats: StatsSnapshot, health: NodeHealth) -> DiagnosticStatus:
    level, message = assess(stats, health)
    values = {
        "state": health.state,
        "backend": health.backend,
        "model": health.model,
        "input_topic": health.input_topic,
        "input_rate_hz": _fmt(stats.input_rate_hz),
        "output_rate_hz": _fmt(stats.output_rate_hz),
        "inference_ms_p50": _fmt(stats.inference_ms_p50),
        "inference_ms_p99": _fmt(stats.inference_ms_p99),
        "latency_ms_p50": _fmt(stats.latency_ms_p50),
        "latency_ms_p99": _fmt(stats.latency_ms_p99),
        "frames_received": str(stats.received),
        "frames_processed": str(stats.processed),
        "frames_dropped": str(stats.dropped),
        "frames_rejected": str(stats.rejected),
        "frames_failed": str(stats.failed),
        "frames_lost_before_node_estimated": str(stats.lost_before_node),
        "camera_period_ms": _fmt(stats.camera_period_ms),
        "seconds_since_input": _fmt(stats.seconds_since_input),
        "last_rejection": stats.last_rejection,
        "last_error": stats.last_error or health.configure_error,
        "configure_progress": health.configure_progress,
        "provider_fallback": health.provider_fallback,
        "camera_pose": health.camera_pose or "unused",
        "camera_pose_error": health.camera_pose_error,
        "intrinsics": health.intrinsics or "unused",
    }
    return DiagnosticStatus(
        level=level,
        name=name,
        message=message,
        hardware_id=hardware_id,
        values=[KeyValue(key=k, value=v) for k, v in values.items()],
    )
