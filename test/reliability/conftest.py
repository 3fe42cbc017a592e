"""Reliability fixtures: the real SegmentationNode in this process on its own ROS_DOMAIN_ID, plus a client node.

Small frames (60x80) and the tiny ONNX model (network 96x128) keep every test to a few seconds on two cores.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from stdc_ros.image_codec import encode_image  # noqa: E402

DISCOVERY_S = 8.0


def scene(height: int = 60, width: int = 80, seed: int = 0) -> np.ndarray:
    """A small RGB frame with structure (gradients and noise)."""
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0:height, 0:width]
    base = np.stack([u * 255 // max(width - 1, 1), v * 255 // max(height - 1, 1), (u + v) % 256], axis=2)
    return np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)


def raw_message(rgb: np.ndarray, stamp_ns: int, encoding: str = "rgb8", frame_id: str = "cam") -> Image:
    step, data = encode_image(rgb, encoding)
    msg = Image(height=rgb.shape[0], width=rgb.shape[1], encoding=encoding, step=step, is_bigendian=0)
    msg.data = data
    set_stamp(msg, stamp_ns, frame_id)
    return msg


def set_stamp(msg: Any, stamp_ns: int, frame_id: str = "cam") -> Any:
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(int(stamp_ns), 1_000_000_000)
    msg.header.frame_id = frame_id
    return msg


def stamp_of(msg: Any) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


@dataclass
class Inbox:
    """Messages received on one topic (thread-safe)."""

    items: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, msg: Any) -> None:
        with self.lock:
            self.items.append(msg)

    def snapshot(self) -> list[Any]:
        with self.lock:
            return list(self.items)

    def stamps(self) -> set[int]:
        return {stamp_of(m) for m in self.snapshot()}


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    return predicate()


class Harness:
    """One rclpy context on the test's domain, an executor thread, a client node, and the nodes under test."""

    def __init__(self, domain_id: int) -> None:
        self.domain_id = domain_id
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.client = rclpy.create_node(f"reliability_client_{domain_id}", context=self.context)
        # Two threads: a service call from the test thread must not wait behind the node's callbacks.
        self.executor = MultiThreadedExecutor(num_threads=2, context=self.context)
        self.executor.add_node(self.client)
        self.nodes: list[Any] = []
        self.diagnostics = Inbox()
        self.client.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics, QoSProfile(depth=100))
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        with contextlib.suppress(Exception):
            self.executor.spin()

    def node(self, name: str, params: dict[str, Any], runtime_factory: Callable | None = None) -> Any:
        from stdc_ros.node.segmentation_node import SegmentationNode

        overrides = [Parameter(k, value=v) for k, v in {"threads": 1, **params}.items()]
        kwargs = {} if runtime_factory is None else {"runtime_factory": runtime_factory}
        node = SegmentationNode(name, context=self.context, parameter_overrides=overrides, **kwargs)
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def subscribe(self, msg_type: Any, topic: str) -> Inbox:
        inbox = Inbox()
        self.client.create_subscription(msg_type, topic, inbox, QoSProfile(depth=100))
        return inbox

    def publisher(self, msg_type: Any, topic: str) -> Any:
        return self.client.create_publisher(
            msg_type, topic, QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        )

    def connect(self, publisher: Any, node: Any, outputs: list[Any]) -> None:
        """Wait for discovery both ways: our publisher sees the node, the node's outputs see our subscriptions."""
        ok = wait_for(lambda: publisher.get_subscription_count() > 0, DISCOVERY_S)
        assert ok, "the node's input subscription was not discovered"
        ok = wait_for(lambda: all(p.get_subscription_count() > 0 for p in outputs), DISCOVERY_S)
        assert ok, "the node's output publishers did not discover the test's subscriptions"

    def statuses(self, node_name: str) -> list[DiagnosticStatus]:
        return [s for a in self.diagnostics.snapshot() for s in a.status if f"/{node_name}:" in s.name]

    def wait_status(self, node_name: str, predicate: Callable[[DiagnosticStatus], bool], timeout: float = 6.0) -> Any:
        return wait_for(lambda: next((s for s in reversed(self.statuses(node_name)) if predicate(s)), None), timeout)

    def close(self) -> None:
        for node in self.nodes:
            node.release_all()
        self.executor.shutdown(timeout_sec=2.0)
        for node in self.nodes:
            node.destroy_node()
        self.client.destroy_node()
        self.context.try_shutdown()
        self._thread.join(timeout=5.0)


def status_values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


@pytest.fixture
def harness(ros_domain_id: int) -> Iterator[Harness]:
    h = Harness(ros_domain_id)
    try:
        yield h
    finally:
        h.close()


class Kit:
    """Helpers for the test modules (conftest is not importable under --import-mode=importlib)."""

    scene = staticmethod(scene)
    raw_message = staticmethod(raw_message)
    set_stamp = staticmethod(set_stamp)
    stamp_of = staticmethod(stamp_of)
    wait_for = staticmethod(wait_for)
    status_values = staticmethod(status_values)


@pytest.fixture(scope="session")
def kit() -> type[Kit]:
    return Kit
