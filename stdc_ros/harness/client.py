"""A client of the node process: publishes frames to ``/<node>/in/image``, matches the outputs, reads diagnostics.

Used by the soak and the node benchmarks (and their tests): frames go out closed-loop (a window of frames in flight)
or open-loop (a camera's fixed rate); every frame carries a unique stamp that its outputs keep.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Consumers the soak subscribes to: "labels" only, or every output of the node (closer to a vehicle stack).
LABEL_OUTPUTS = ("labels",)
ALL_OUTPUTS = (
    "labels",
    "labels/compressed",
    "color",
    "overlay",
    "camera_info",
    "drivable_mask",
    "drivable_grid",
    "freespace_scan",
)


def synthetic_frames(height: int, width: int, count: int = 8, seed: int = 0) -> list[np.ndarray]:
    """A few distinct RGB frames: smooth gradients plus noise (content varies, decode paths stay realistic)."""
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for i in range(count):
        base = np.stack([u / max(width, 1) * 255, v / max(height, 1) * 255, np.full_like(u, 40.0 * i)], axis=2)
        noisy = base + rng.normal(0.0, 12.0, base.shape)
        frames.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return frames


@dataclass
class StreamStats:
    """What one stream of frames produced, seen from the consumer side."""

    sent: int = 0
    received: int = 0  # sent frames for which every subscribed output came back
    lost: int = 0  # sent frames whose output never came (dropped in the node's slot or by best-effort QoS)
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    per_topic: dict[str, int] = field(default_factory=dict)

    @property
    def rate_hz(self) -> float:
        return self.received / self.seconds if self.seconds > 0 else 0.0

    def latency_ms(self, q: float) -> float | None:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else None


class FrameDriver:
    """A client node in this process: publishes frames to ``/<node>/in/image`` and listens to the node's outputs.

    Every frame carries a unique stamp; an output is matched to its frame by stamp (the node keeps headers). A
    frame is complete once every subscribed output of it arrived; latency is measured to its ~/out/labels.
    """

    def __init__(self, node_name: str, domain_id: int, outputs: Sequence[str] = LABEL_OUTPUTS) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from nav_msgs.msg import OccupancyGrid
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image, LaserScan

        types = {
            "labels/compressed": CompressedImage,
            "camera_info": CameraInfo,
            "drivable_grid": OccupancyGrid,
            "freespace_scan": LaserScan,
        }
        self.node_name = node_name
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        # Unique per driver: a benchmark may hold several drivers in one process.
        self.client = rclpy.create_node(f"soak_driver_{os.getpid()}_{id(self) % 1_000_000}", context=self.context)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.client.create_publisher(Image, f"/{node_name}/in/image", reliable)
        self.info_pub = self.client.create_publisher(CameraInfo, f"/{node_name}/in/camera_info", reliable)
        self._cond = threading.Condition()
        self._sent: dict[int, float] = {}  # stamp ns -> send time, for frames in flight
        self._missing: dict[int, set[str]] = {}  # stamp ns -> outputs of that frame not yet received
        self._outputs = tuple(outputs)
        self._latencies: list[float] = []
        self._per_topic: dict[str, int] = dict.fromkeys(outputs, 0)
        self._received = 0
        self._lost = 0
        self._last_status: Any = None
        for topic in outputs:
            callback = self._on_labels if topic == "labels" else self._counter(topic)
            self.client.create_subscription(types.get(topic, Image), f"/{node_name}/out/{topic}", callback, reliable)
        self.client.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, reliable)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.client)
        self._thread = threading.Thread(target=self._spin, name="soak_driver_spin", daemon=True)
        self._thread.start()
        self._stamp = 0

    def _spin(self) -> None:
        with contextlib.suppress(Exception):  # the context is shut down by close()
            self.executor.spin()

    # -- callbacks (executor thread)
    def _counter(self, topic: str) -> Callable[[Any], None]:
        def count(msg: Any) -> None:
            self._arrived(topic, msg.header.stamp)

        return count

    def _on_labels(self, msg: Any) -> None:
        self._arrived("labels", msg.header.stamp, time.perf_counter())

    def _arrived(self, topic: str, stamp_msg: Any, now: float | None = None) -> None:
        """Count ``topic`` for its frame; the frame is complete (its slot frees) once every output arrived."""
        stamp = stamp_msg.sec * 1_000_000_000 + stamp_msg.nanosec
        with self._cond:
            self._per_topic[topic] += 1
            missing = self._missing.get(stamp)
            if missing is None:
                return
            if now is not None and stamp in self._sent:
                self._latencies.append((now - self._sent[stamp]) * 1000.0)
            missing.discard(topic)
            if not missing:
                del self._missing[stamp]
                self._sent.pop(stamp, None)
                self._received += 1
                # The node handles frames in order and every topic keeps its order, so an older frame still
                # incomplete now never comes: it was dropped (newest-frame policy or best-effort input).
                for older in [s for s in self._sent if s < stamp]:
                    del self._sent[older]
                    self._missing.pop(older, None)
                    self._lost += 1
                self._cond.notify_all()

    def _on_diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            if f"/{self.node_name}:" in status.name or status.name.startswith(f"{self.node_name}:"):
                with self._cond:
                    self._last_status = status

    # -- main thread
    def diagnostics(self) -> dict[str, str]:
        """The key/values of the node's latest diagnostic status (empty before the first one)."""
        with self._cond:
            status = self._last_status
        return {} if status is None else {kv.key: kv.value for kv in status.values} | {"_message": status.message}

    def wait_diagnostics(self, predicate: Callable[[dict[str, str]], bool], timeout: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            values = self.diagnostics()
            if values and predicate(values):
                return values
            time.sleep(0.05)
        return self.diagnostics()

    def make_message(self, rgb: np.ndarray, encoding: str = "rgb8") -> Any:
        from sensor_msgs.msg import Image

        from ..image_codec import encode_image

        step, data = encode_image(rgb, encoding)
        msg = Image(height=rgb.shape[0], width=rgb.shape[1], encoding=encoding, step=step, is_bigendian=0)
        msg.data = data
        msg.header.frame_id = "soak_camera"
        return msg

    def publish_camera_info(self, height: int, width: int) -> None:
        from sensor_msgs.msg import CameraInfo

        f = 0.9 * width
        info = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
        info.header.frame_id = "soak_camera"
        info.k = [f, 0.0, (width - 1) / 2, 0.0, f, (height - 1) / 2, 0.0, 0.0, 1.0]
        info.p = [f, 0.0, (width - 1) / 2, 0.0, 0.0, f, (height - 1) / 2, 0.0, 0.0, 0.0, 1.0, 0.0]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        self.info_pub.publish(info)

    def publish(self, msg: Any) -> int:
        """Send ``msg`` stamped now (unique, increasing, so outputs match frames); returns the stamp (ns)."""
        self._stamp = max(self._stamp + 1, time.time_ns())
        stamp = self._stamp
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
        with self._cond:
            self._sent[stamp] = time.perf_counter()
            self._missing[stamp] = set(self._outputs)
        self.image_pub.publish(msg)
        return stamp

    def wait_ready(
        self, msg: Any, timeout: float = 60.0, retry_s: float = 0.5, before_probe: Callable[[], None] | None = None
    ) -> float:
        """Send probe frames until one comes back complete (node started, configured, every output discovered).

        ``before_probe`` runs before each probe (e.g. to send camera_info, which best effort may lose before
        discovery). Returns the seconds it took.
        """
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if before_probe is not None:
                before_probe()
            self.publish(msg)
            with self._cond:
                if self._cond.wait_for(lambda: self._received > 0, retry_s):
                    self._sent.clear()
                    self._missing.clear()
                    return time.monotonic() - started
        raise TimeoutError(f"no output from /{self.node_name} within {timeout:.0f} s (did the node start?)")

    def reset(self) -> None:
        with self._cond:
            self._sent.clear()
            self._missing.clear()
            self._latencies = []
            self._received = 0
            self._lost = 0
            self._per_topic = dict.fromkeys(self._per_topic, 0)

    def stream(
        self,
        messages: Sequence[Any],
        count: int,
        window: int = 2,
        frame_timeout_s: float = 2.0,
        on_progress: Callable[[int], None] | None = None,
        rate_hz: float | None = None,
        min_gap_s: float = 0.005,
        stop: threading.Event | None = None,
        settle_s: float = 0.2,
    ) -> StreamStats:
        """Send ``count`` frames, cycling through ``messages``.

        Closed loop (``rate_hz`` None): at most ``window`` frames in flight; the next one leaves when a frame is
        complete (all its outputs back) and at least ``min_gap_s`` after the previous one; a frame still incomplete
        after ``frame_timeout_s`` is counted lost.
        Open loop (``rate_hz``): frames leave on a fixed clock whatever the node does (a camera), and the node's
        drops show as ``lost``. ``on_progress(received)`` runs after every frame sent, on this thread; ``stop``
        ends the stream early; ``settle_s`` is waited at the end before the per-topic counts are read.
        """
        self.reset()
        stats = StreamStats()
        started = last_sent = time.perf_counter()
        for i in range(count):
            if stop is not None and stop.is_set():
                break
            if rate_hz is not None:
                delay = started + i / rate_hz - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            else:
                with self._cond:
                    if not self._cond.wait_for(lambda: len(self._sent) < window, frame_timeout_s):
                        stats.lost += self._expire(frame_timeout_s)
                # Two frames arriving together would overwrite each other in the node's depth-1 input history (a
                # drop no counter sees): leave the node a moment to take the previous one.
                gap = last_sent + min_gap_s - time.perf_counter()
                if gap > 0:
                    time.sleep(gap)
            self.publish(messages[i % len(messages)])
            last_sent = time.perf_counter()
            stats.sent += 1
            if on_progress is not None:
                on_progress(self._received)
        with self._cond:  # the last frames in flight
            self._cond.wait_for(lambda: not self._sent, frame_timeout_s)
            stats.lost += len(self._sent) + self._lost
            self._sent.clear()
            self._missing.clear()
            stats.seconds = time.perf_counter() - started
            stats.received = self._received
            stats.latencies_ms = list(self._latencies)
        time.sleep(settle_s)  # let the other outputs of the last frame arrive before counting them
        with self._cond:
            stats.per_topic = dict(self._per_topic)
        return stats

    def _expire(self, older_than_s: float) -> int:
        """Forget frames in flight for longer than ``older_than_s`` (caller holds the lock); how many."""
        limit = time.perf_counter() - older_than_s
        stale = [s for s, t in self._sent.items() if t < limit] or list(self._sent)[:1]
        for stamp in stale:
            del self._sent[stamp]
            self._missing.pop(stamp, None)
        return len(stale)

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self.client.destroy_node()
        self.context.try_shutdown()
        self._thread.join(timeout=5.0)

    def __enter__(self) -> FrameDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
