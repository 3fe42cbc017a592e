"""Pipeline statistics and the OK/WARN/ERROR rules of /diagnostics (no DDS)."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticStatus

from stdc_ros.node.diagnostics import NodeHealth, PipelineStats, StatsSnapshot, assess, to_status

KEYS = {
    "state", "backend", "model", "input_topic", "input_rate_hz", "output_rate_hz", "inference_ms_p50",
    "inference_ms_p99", "latency_ms_p50", "latency_ms_p99", "frames_received", "frames_processed", "frames_dropped",
    "frames_rejected", "frames_failed", "seconds_since_input", "last_rejection", "last_error",
}  # fmt: skip


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rates_percentiles_and_counts() -> None:
    clock = FakeClock()
    stats = PipelineStats(window_s=5.0, clock=clock)
    for i in range(50):  # 10 Hz input for 5 s, every other frame dropped
        clock.now += 0.1
        stats.on_received(dropped_older=bool(i % 2))
        if i % 2:
            stats.on_processed(0.010 + 0.001 * (i % 10), 0.030)
    snap = stats.snapshot()
    assert snap.received == 50 and snap.dropped == 25 and snap.processed == 25
    assert 9.0 <= snap.input_rate_hz <= 10.5 and 4.5 <= snap.output_rate_hz <= 5.5
    assert 10.0 <= snap.inference_ms_p50 <= 20.0 and snap.inference_ms_p99 <= 20.0
    assert abs(snap.latency_ms_p50 - 30.0) < 1e-6
    clock.now += 7.0
    assert stats.snapshot().input_rate_hz == 0.0
    assert stats.snapshot().seconds_since_input > 6.9


def test_levels() -> None:
    active = NodeHealth(state="active", input_topic="/cam/in/image", no_input_timeout=5.0, latency_warn_ms=100.0)
    ok = StatsSnapshot(seconds_since_input=0.1, latency_ms_p50=20.0)
    assert assess(ok, active) == (DiagnosticStatus.OK, "running")
    assert assess(ok, NodeHealth(state="inactive", input_topic="x"))[0] == DiagnosticStatus.OK
    level, message = assess(ok, NodeHealth(state="unconfigured", input_topic="x", configure_error="no model"))
    assert level == DiagnosticStatus.ERROR and "no model" in message
    level, message = assess(StatsSnapshot(seconds_since_input=6.0), active)
    assert level == DiagnosticStatus.WARN and "no input on /cam/in/image" in message
    level, message = assess(StatsSnapshot(rejected_recent=2, last_rejection="bad step"), active)
    assert level == DiagnosticStatus.WARN and "bad step" in message
    level, _ = assess(StatsSnapshot(latency_ms_p50=500.0), active)
    assert level == DiagnosticStatus.WARN
    level, message = assess(StatsSnapshot(last_error="CUDA out of memory", seconds_since_input=9.0), active)
    assert level == DiagnosticStatus.ERROR and "out of memory" in message


def test_a_failure_is_an_error_until_a_frame_succeeds() -> None:
    stats = PipelineStats()
    stats.on_received(False)
    stats.on_failed("InferenceError: boom")
    assert stats.snapshot().last_error == "InferenceError: boom"
    stats.on_processed(0.01, None)
    assert stats.snapshot().last_error == "" and stats.snapshot().failed == 1


def test_status_message_carries_every_documented_key() -> None:
    health = NodeHealth(state="active", input_topic="/cam/in/image", backend="onnxruntime", model="m.onnx")
    status = to_status("/cam/stdc_ros: segmentation", "camera_optical", StatsSnapshot(), health)
    assert {kv.key for kv in status.values} == KEYS
    assert status.name == "/cam/stdc_ros: segmentation" and status.hardware_id == "camera_optical"
