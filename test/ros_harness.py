"""The in-process ROS test harness of test/node (the node, bad-input, fault and parameter-abuse tests).

One rclpy context on the test's own ROS_DOMAIN_ID, an executor thread, a client node that publishes frames,
subscribes to outputs and calls services, and the SegmentationNode(s) under test; plus frame helpers.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from stdc_ros.harness import frames

DISCOVERY_TIMEOUT = 8.0


# ------------------------------------------------------------------------------------------------ frames
def block_image(height: int = 60, width: int = 80) -> np.ndarray:
    """RGB frame of flat colour blocks (demosaicing and chroma subsampling stay exact inside each block)."""
    image = np.zeros((height, width, 3), np.uint8)
    colours = [(128, 64, 128), (70, 130, 180), (107, 142, 35), (220, 20, 60), (250, 250, 250), (20, 20, 20)]
    bh, bw = height // 2, width // 3
    for i, colour in enumerate(colours):
        r, c = divmod(i, 3)
        image[r * bh : (r + 1) * bh, c * bw : (c + 1) * bw] = colour
    return image


def scene(height: int = 60, width: int = 80, seed: int = 0) -> np.ndarray:
    """A small RGB frame with structure (gradients and noise)."""
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0:height, 0:width]
    base = np.stack([u * 255 // max(width - 1, 1), v * 255 // max(height - 1, 1), (u + v) % 256], axis=2)
    return np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)


def set_stamp(msg: Any, stamp_ns: int, frame_id: str = "cam") -> Any:
    msg.header.frame_id = frame_id
    return frames.set_stamp(msg, stamp_ns)


def stamp_of(msg: Any) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def image_message(
    rgb: np.ndarray,
    encoding: str = "rgb8",
    stamp_ns: int = 1,
    frame_id: str = "camera_optical",
    row_padding: int = 0,
    big_endian: bool = False,
) -> Image:
    msg = frames.image_message(rgb, encoding, frame_id, row_padding, big_endian)
    return set_stamp(msg, stamp_ns, frame_id)


def status_values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it is truthy or ``timeout`` passes; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    return predicate()


# ------------------------------------------------------------------------------------------------ harness
class Collector:
    """Messages of one subscription with their arrival times (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[tuple[float, Any]] = []

    def __call__(self, msg: Any) -> None:
        with self._lock:
            self.items.append((time.monotonic(), msg))

    @property
    def messages(self) -> list[Any]:
        with self._lock:
            return [m for _, m in self.items]

    def find(self, predicate: Callable[[Any], bool]) -> Any | None:
        return next((m for m in reversed(self.messages) if predicate(m)), None)

    def stamps(self) -> set[int]:
        return {stamp_of(m) for m in self.messages}


class RosHarness:
    """The context, executor thread, client node and nodes under test of one test.

    ``threads=2`` lets a service call made from the test thread be answered while the node's own callbacks run.
    """

    def __init__(self, domain_id: int, threads: int = 1) -> None:
        self.domain_id = domain_id
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.client = rclpy.create_node(f"test_client_{domain_id}", context=self.context)
        self.executor = (
            SingleThreadedExecutor(context=self.context)
            if threads == 1
            else MultiThreadedExecutor(num_threads=threads, context=self.context)
        )
        self.executor.add_node(self.client)
        self.nodes: list[Any] = []
        self.diagnostics = self.subscribe(DiagnosticArray, "/diagnostics", depth=100)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        with contextlib.suppress(Exception):  # the context is shut down at teardown
            self.executor.spin()

    wait_for = staticmethod(wait_for)

    def start_node(
        self,
        name: str,
        params: dict[str, Any],
        runtime_factory: Callable | None = None,
        wait_autostart: bool = True,
        **node_kwargs: Any,
    ) -> Any:
        """A SegmentationNode spun by this harness; with ``autostart`` (which runs once the executor spins) it
        returns after the node configured and activated itself (or failed to), unless ``wait_autostart`` is False."""
        from stdc_ros.node.segmentation_node import SegmentationNode

        overrides = [Parameter(k, value=v) for k, v in {"threads": 1, **params}.items()]
        kwargs = dict(node_kwargs) if runtime_factory is None else {**node_kwargs, "runtime_factory": runtime_factory}
        node = SegmentationNode(name, context=self.context, parameter_overrides=overrides, **kwargs)
        self.nodes.append(node)
        self.executor.add_node(node)
        if wait_autostart:
            assert wait_for(lambda: not node.starting, 120.0), f"{name}: autostart did not finish"
        return node

    def subscribe(self, msg_type: Any, topic: str, depth: int = 100) -> Collector:
        collector = Collector()
        self.client.create_subscription(msg_type, topic, collector, QoSProfile(depth=depth))
        return collector

    def publisher(self, msg_type: Any, topic: str, reliable: bool = True, depth: int = 10) -> Any:
        reliability = ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT
        return self.client.create_publisher(msg_type, topic, QoSProfile(depth=depth, reliability=reliability))

    def wait_matched(self, publisher: Any, topics: list[str] = (), timeout: float = DISCOVERY_TIMEOUT) -> None:
        """Wait until ``publisher`` has a subscriber and every topic in ``topics`` has a publisher (discovery)."""
        ok = self.wait_for(
            lambda: publisher.get_subscription_count() > 0 and all(self.client.count_publishers(t) > 0 for t in topics),
            timeout,
        )
        assert ok, f"discovery did not complete within {timeout} s"

    def wait_output_subscribed(self, node: Any, publisher_attr: str, timeout: float = DISCOVERY_TIMEOUT) -> None:
        """Wait until the node's own publisher sees our subscription (else it skips the frame as unwatched)."""
        ok = self.wait_for(lambda: getattr(node._outputs, publisher_attr).get_subscription_count() > 0, timeout)
        assert ok, f"node publisher {publisher_attr} did not see the test's subscription"

    def connect(self, publisher: Any, node: Any, outputs: list[Any]) -> None:
        """Wait for discovery both ways: our publisher sees the node, the node's outputs see our subscriptions."""
        ok = self.wait_for(lambda: publisher.get_subscription_count() > 0, DISCOVERY_TIMEOUT)
        assert ok, "the node's input subscription was not discovered"
        ok = self.wait_for(lambda: all(p.get_subscription_count() > 0 for p in outputs), DISCOVERY_TIMEOUT)
        assert ok, "the node's output publishers did not discover the test's subscriptions"

    def call(self, srv_type: Any, name: str, request: Any, timeout: float = 10.0) -> Any:
        client = self.client.create_client(srv_type, name)
        try:
            assert client.wait_for_service(timeout_sec=DISCOVERY_TIMEOUT), f"service {name} not available"
            future = client.call_async(request)
            done = self.wait_for(future.done, timeout)
            assert done, f"service {name} did not answer within {timeout} s"
            return future.result()
        finally:
            self.client.destroy_client(client)

    def statuses(self, node_name: str) -> list[DiagnosticStatus]:
        return [s for a in self.diagnostics.messages for s in a.status if f"/{node_name}:" in s.name]

    def wait_status(self, node_name: str, predicate: Callable[[DiagnosticStatus], bool], timeout: float = 6.0) -> Any:
        return self.wait_for(
            lambda: next((s for s in reversed(self.statuses(node_name)) if predicate(s)), None), timeout
        )

    def close(self) -> None:
        for node in self.nodes:
            node.release_all()
        self.executor.shutdown(timeout_sec=2.0)
        for node in self.nodes:
            node.destroy_node()
        self.client.destroy_node()
        self.context.try_shutdown()
        self._thread.join(timeout=5.0)
