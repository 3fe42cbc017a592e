"""A slow configure (model load, TensorRT engine build) under a multi-threaded executor as main.py spins it: the
lifecycle services and /diagnostics stay alive and say "configuring" with the backend's progress; the package's
log records reach the ROS log; a provider fallback is an ERROR line and a WARN status. Real rclpy and DDS; the
runtime factory blocks until the test releases it (no timing in the assertions)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState

from stdc_ros.node.main import EXECUTOR_THREADS
from stdc_ros.runtime import SegmentationRuntime, create_runtime
from stdc_ros.runtime.base import Segmentation

from ..ros_harness import RosHarness, status_values

pytestmark = [pytest.mark.ros]

PROGRESS = "building TensorRT engine: phase x 3/10"


class WrappedRuntime(SegmentationRuntime):
    """The real tiny runtime, with an optional provider ``fallback`` and a record of ``close``."""

    backend = "onnxruntime"

    def __init__(self, inner: SegmentationRuntime, fallback: str = "") -> None:
        super().__init__(inner.model_path, inner.input_size, inner.num_classes)
        self.inner, self.fallback, self.closed = inner, fallback, threading.Event()

    def infer(self, image: np.ndarray, channel_order: Any = "rgb", confidence: bool = False) -> Segmentation:
        return self.inner.infer(image, channel_order, confidence)

    def close(self) -> None:
        self.inner.close()
        self.closed.set()


class GatedFactory:
    """A runtime factory that reports progress (when given the option), logs through Python logging and then
    blocks until ``release`` is set: a model load or engine build that lasts as long as the test needs."""

    def __init__(self, fallback: str = "") -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.options: dict[str, Any] = {}
        self.fallback = fallback
        self.made: list[WrappedRuntime] = []

    def __call__(self, backend: str, path: Path, size: Any, device: str, **options: Any) -> SegmentationRuntime:
        self.options = dict(options)
        logging.getLogger("stdc_ros.runtime.gated").info("gated load of %s started", path.name)
        logging.getLogger("tensorrt").warning("a TensorRT builder warning")
        progress = options.get("progress")
        if progress is not None:
            progress(PROGRESS)
        self.entered.set()
        assert self.release.wait(60.0), "the test never released the load"
        runtime = WrappedRuntime(create_runtime("onnxruntime", path, size, "cpu", threads=1), self.fallback)
        self.made.append(runtime)
        return runtime


@pytest.fixture
def mt(ros_domain_id: int) -> Iterator[RosHarness]:
    """The harness with main.py's multi-threaded executor."""
    harness = RosHarness(ros_domain_id, threads=EXECUTOR_THREADS)
    try:
        yield harness
    finally:
        harness.close()


def get_state(harness: RosHarness, name: str) -> int:
    return harness.call(GetState, f"/{name}/get_state", GetState.Request()).current_state.id


def configuring(harness: RosHarness, name: str, count: int) -> list[DiagnosticStatus]:
    """Wait for ``count`` "configuring" statuses of the node (1 Hz) and return them."""

    def seen() -> list[DiagnosticStatus]:
        found = [s for s in harness.statuses(name) if s.message.startswith("configuring")]
        return found if len(found) >= count else []

    return harness.wait_for(seen, count + 8.0)


def test_autostart_loads_after_spinning_and_the_node_answers_while_it_builds(
    mt: RosHarness, tiny_onnx: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    name = f"cfg_auto_{mt.domain_id}"
    factory = GatedFactory()
    params = {"model_path": str(tiny_onnx), "autostart": True, "backend": "tensorrt", "device": "cuda"}
    node = mt.start_node(name, params, runtime_factory=factory, wait_autostart=False)
    try:
        assert factory.entered.wait(30.0), "autostart never started the load"
        assert node.starting
        statuses = configuring(mt, name, 2)  # diagnostics keep coming during the build
        assert statuses, "no configuring status while the engine builds"
        assert statuses[-1].message.startswith(f"configuring: {PROGRESS} (")  # and the seconds so far
        assert status_values(statuses[-1])["state"] == "configuring"
        assert status_values(statuses[-1])["configure_progress"].startswith(PROGRESS)
        assert get_state(mt, name) == State.PRIMARY_STATE_UNCONFIGURED  # the lifecycle services answer
        assert not factory.release.is_set() and callable(factory.options["progress"])
    finally:
        factory.release.set()
    assert mt.wait_for(lambda: not node.starting, 30.0)
    assert node.state == "active" and get_state(mt, name) == State.PRIMARY_STATE_ACTIVE
    running = mt.wait_status(name, lambda s: not s.message.startswith("configuring"))
    assert running is not None and status_values(running)["configure_progress"] == ""
    err = capfd.readouterr().err
    # the factory's Python log records went to the node's ROS logger, once each, at their severity
    lines = [line for line in err.splitlines() if "gated load of" in line]
    assert len(lines) == 1 and "[INFO]" in lines[0] and f"[{name}]" in lines[0], err[-2000:]
    assert "stdc_ros.runtime.gated: gated load of" in lines[0]
    warnings = [line for line in err.splitlines() if "a TensorRT builder warning" in line]
    assert len(warnings) == 1 and "[WARN]" in warnings[0] and f"[{name}]" in warnings[0]


def test_a_configure_from_a_manager_keeps_diagnostics_going(mt: RosHarness, tiny_onnx: Path) -> None:
    name = f"cfg_mgr_{mt.domain_id}"
    factory = GatedFactory()
    node = mt.start_node(name, {"model_path": str(tiny_onnx)}, runtime_factory=factory)
    client = mt.client.create_client(ChangeState, f"/{name}/change_state")
    assert client.wait_for_service(timeout_sec=10.0)
    future = client.call_async(ChangeState.Request(transition=Transition(id=Transition.TRANSITION_CONFIGURE)))
    try:
        assert factory.entered.wait(30.0)
        statuses = configuring(mt, name, 2)
        assert statuses and statuses[-1].message.startswith("configuring: loading model (")
        assert statuses[-1].level == DiagnosticStatus.OK and not future.done()
        assert "progress" not in factory.options  # the contract: only the tensorrt backend gets it
    finally:
        factory.release.set()
    assert mt.wait_for(future.done, 30.0) and future.result().success
    assert node.state == "inactive" and get_state(mt, name) == State.PRIMARY_STATE_INACTIVE


def test_shutdown_during_the_load_closes_the_runtime_when_it_arrives(mt: RosHarness, tiny_onnx: Path) -> None:
    name = f"cfg_stop_{mt.domain_id}"
    factory = GatedFactory()
    node = mt.start_node(name, {"model_path": str(tiny_onnx), "autostart": True}, factory, wait_autostart=False)
    assert factory.entered.wait(30.0)
    node.release_all()  # SIGINT in main.py: the node must not wait for (or leak) the load
    assert not node.starting and node.state == "finalized"
    factory.release.set()
    assert mt.wait_for(lambda: factory.made and factory.made[0].closed.is_set(), 30.0), "runtime leaked"
    assert node._runtime is None


def test_a_provider_fallback_is_an_error_line_and_a_warning_status(
    ros: RosHarness, tiny_onnx: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    name = f"cfg_fallback_{ros.domain_id}"
    reason = "CUDAExecutionProvider is not available (allow_provider_fallback): running on CPUExecutionProvider"
    factory = GatedFactory(fallback=reason)
    factory.release.set()
    node = ros.start_node(name, {"model_path": str(tiny_onnx), "autostart": True}, runtime_factory=factory)
    assert node.state == "active"
    status = ros.wait_status(name, lambda s: status_values(s).get("provider_fallback") == reason)
    assert status is not None and status.level == DiagnosticStatus.WARN and reason in status.message
    err = capfd.readouterr().err
    errors = [line for line in err.splitlines() if "provider fallback" in line]
    assert len(errors) == 1 and "[ERROR]" in errors[0] and reason in errors[0]


def test_a_manager_configure_during_the_autostart_load_shares_that_load(mt: RosHarness, tiny_onnx: Path) -> None:
    name = f"cfg_both_{mt.domain_id}"
    factory = GatedFactory()
    calls = []

    def counting(*args: Any, **kwargs: Any) -> SegmentationRuntime:
        calls.append(args)
        return factory(*args, **kwargs)

    node = mt.start_node(name, {"model_path": str(tiny_onnx), "autostart": True}, counting, wait_autostart=False)
    assert factory.entered.wait(30.0)
    client = mt.client.create_client(ChangeState, f"/{name}/change_state")
    assert client.wait_for_service(timeout_sec=10.0)
    future = client.call_async(ChangeState.Request(transition=Transition(id=Transition.TRANSITION_CONFIGURE)))
    assert configuring(mt, name, 1)
    factory.release.set()
    assert mt.wait_for(future.done, 30.0) and future.result().success
    assert mt.wait_for(lambda: not node.starting, 30.0)
    # one load; the manager's configure took it, so autostart left the rest (activate) to the manager
    assert len(calls) == 1 and node.state == "inactive" and get_state(mt, name) == State.PRIMARY_STATE_INACTIVE
