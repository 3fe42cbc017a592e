"""Pipeline statistics and the OK/WARN/ERROR rules of /diagnostics (no DDS)."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticStatus

from stdc_ros.node.diagnostics import NodeHealth, PipelineStats, StatsSnapshot, assess, to_status

KEYS = {
    "state", "backend", "model", "input_topic", "input_rate_hz", "output_rate_hz", "inference_ms_p50",
    "inference_ms_p99", "latency_ms_p50", "latency_ms_p99", "frames_received", "frames_processed", "frames_dropped",
    "frames_rejected", "frames_failed", "seconds_since_input", "last_rejection", "last_error", "configure_progress",
    "provider_fallback", "camera_pose", "camera_pose_error", "intrinsics",
    "frames_lost_before_node_estimated", "camera_period_ms",
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


def test_configuring_fallbacks_and_geometry_sources() -> None:
    base = {"input_topic": "/cam/in/image", "no_input_timeout": 5.0}
    fine = StatsSnapshot(seconds_since_input=0.1)
    configuring = NodeHealth(state="configuring", configure_progress="building TensorRT engine: 3/10 (40 s)", **base)
    assert assess(fine, configuring) == (DiagnosticStatus.OK, "configuring: building TensorRT engine: 3/10 (40 s)")
    assert assess(fine, NodeHealth(state="configuring", **base))[1] == "configuring: loading model"

    fallback = "CUDAExecutionProvider is not available: running on CPUExecutionProvider"
    level, message = assess(fine, NodeHealth(state="active", provider_fallback=fallback, **base))
    assert level == DiagnosticStatus.WARN and fallback in message
    level, message = assess(fine, NodeHealth(state="inactive", provider_fallback=fallback, **base))
    assert level == DiagnosticStatus.WARN and "provider fallback" in message
    # a failing backend still outranks the fallback
    failing = StatsSnapshot(last_error="CUDA error", seconds_since_input=0.1)
    assert assess(failing, NodeHealth(state="active", provider_fallback=fallback, **base))[0] == DiagnosticStatus.ERROR

    intrinsics = "fallback intrinsics fx=432 fy=432 cx=239.5 cy=179.5 at 480x360 from drivable.default_*"
    health = NodeHealth(state="active", intrinsics=intrinsics, intrinsics_fallback=True, **base)
    level, message = assess(fine, health)
    assert level == DiagnosticStatus.WARN and "fx=432" in message
    health = NodeHealth(
        state="active", camera_pose="parameters (TF lookup failed)", camera_pose_error="a <- b: LookupException", **base
    )
    level, message = assess(fine, health)
    assert level == DiagnosticStatus.WARN and "LookupException" in message
    healthy = NodeHealth(state="active", camera_pose="tf (base_footprint <- cam)", intrinsics="camera_info K", **base)
    assert assess(fine, healthy) == (DiagnosticStatus.OK, "running")
    values = {kv.key: kv.value for kv in to_status("n", "h", fine, healthy).values}
    assert values["camera_pose"] == "tf (base_footprint <- cam)" and values["intrinsics"] == "camera_info K"
    unused = {kv.key: kv.value for kv in to_status("n", "h", fine, NodeHealth(state="active", **base)).values}
    assert unused["camera_pose"] == unused["intrinsics"] == "unused"


def test_frames_lost_before_the_node_are_estimated_and_named() -> None:
    """A 10 Hz camera whose every third frame never arrives: the gaps in the stamps give the loss, apart from the
    node's own drops, and the message names the likely cause while a publisher exists."""
    clock = FakeClock()
    stats = PipelineStats(window_s=5.0, clock=clock)
    for i in range(60):
        clock.now += 0.1
        if i % 3 != 2:
            stats.on_received(dropped_older=False, stamp_ns=1_000_000_000_000 + i * 100_000_000)
    snap = stats.snapshot()
    assert snap.received == 40 and snap.dropped == 0
    assert snap.camera_period_ms is not None and abs(snap.camera_period_ms - 100.0) < 1.0
    assert 15 <= snap.lost_before_node <= 20 and snap.lost_before_node_recent > 0
    values = {kv.key: kv.value for kv in to_status("n", "h", snap, NodeHealth("active", "/cam/in/image")).values}
    assert values["frames_lost_before_node_estimated"] == str(snap.lost_before_node)
    level, message = assess(snap, NodeHealth("active", "/cam/in/image", input_publishers=1))
    assert level == DiagnosticStatus.WARN and "lost before the node" in message and "HD cameras and DDS" in message
    assert assess(snap, NodeHealth("active", "/cam/in/image", input_publishers=0))[1] == "running"
    clock.now += 6.0  # nothing arrives any more, although the camera still publishes
    level, message = assess(stats.snapshot(), NodeHealth("active", "/cam/in/image", input_publishers=1))
    assert level == DiagnosticStatus.WARN and "no input" in message and "shared-memory segment" in message
