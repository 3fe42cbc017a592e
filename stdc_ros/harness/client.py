"""The one client of a node process: publishes frames into ``/<node>/in/image``, receives its outputs, reads
/diagnostics. Used by evaluation (``record``: every output kept raw, decoded later), the soak and the benchmarks
(``stream``: frames closed-loop or at a camera's rate, outputs matched to frames by stamp) and their tests.

Subscriptions are raw (no decoding on the executor thread) and made by discovery: a timer subscribes each output
topic once the node offers it, with the reliability its publisher offers. Only the executor thread queries the
graph and creates subscriptions: rclpy holds the GIL in those calls, and a second thread calling into the middleware
while the executor runs is a known source of rclpy/Fast DDS lock inversions (ros2/rclpy#1722, eProsima/Fast-DDS#6193).
The caller's thread only publishes and waits.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..rosbag.ros import message_class, qos, ros_node
from .frames import camera_info_message, header_stamp_ns, set_stamp
from .tracker import FrameTracker, StreamStats

LOG = logging.getLogger(__name__)
DISCOVERY_PERIOD_S = 0.25
DIAGNOSTICS = "/diagnostics"

# Outputs a stream waits for: "labels" only, or every output of the node (closer to a vehicle stack).
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
_client_ids = itertools.count()


@dataclass(frozen=True)
class Received:
    topic: str
    msgtype: str
    t_recv: float  # time.monotonic() in the callback
    raw: bytes


class NodeClient:
    """A client node in its own ROS context, talking to the node named ``node_name`` on ``domain_id``.

    ``outputs``: the output topics (under ``/<node>/out/``) to subscribe, which a streamed frame waits for; None
    subscribes every output the node offers. ``record``: keep every received message in ``received`` (outputs,
    ``extra_topics`` and /diagnostics). ``input_reliability``/``input_depth``: the QoS frames are published with.
    Use it as a context manager: entering starts the executor thread, leaving shuts the context down.
    """

    def __init__(
        self,
        node_name: str,
        domain_id: int,
        outputs: Sequence[str] | None = LABEL_OUTPUTS,
        *,
        input_reliability: str = "reliable",
        input_depth: int = 10,
        extra_topics: Sequence[str] = (),
        env: dict[str, str] | None = None,
        record: bool = False,
    ) -> None:
        self.node_name = node_name.strip("/")
        self.input_topic = f"/{self.node_name}/in/image"
        self.camera_info_topic = f"/{self.node_name}/in/camera_info"
        self.labels_topic = f"/{self.node_name}/out/labels"
        self.out_prefix = f"/{self.node_name}/out/"
        self.outputs = None if outputs is None else tuple(outputs)
        self.extra_topics = tuple(dict.fromkeys((*extra_topics, DIAGNOSTICS)))
        self.record = record
        self.received: queue.Queue[Received] = queue.Queue()
        self.tracker = FrameTracker(self.outputs or LABEL_OUTPUTS)
        self._input_qos = (input_reliability, input_depth)
        # Unique per client: a benchmark holds several clients in one process.
        name = f"stdc_client_{os.getpid()}_{next(_client_ids)}"
        self._stack = ros_node(name, domain_id, env)
        self._subscriptions: dict[str, Any] = {}
        self._skipped: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._executor: Any = None
        self._ready = threading.Event()
        self._recorded: tuple[str, ...] = ()
        self._seen: tuple[bool, int, int] = (False, 0, 0)  # node in the graph, input subscribers, labels publishers
        self._status: Any = None  # the node's latest DiagnosticStatus
        self._status_lock = threading.Lock()
        self._stamp = 0
        self.node: Any = None
        self.publisher: Any = None
        self.info_publisher: Any = None

    # -- lifetime
    def __enter__(self) -> NodeClient:
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import CameraInfo, Image

        self.node = self._stack.__enter__()
        self.publisher = self.node.create_publisher(Image, self.input_topic, qos(*self._input_qos))
        self.info_publisher = self.node.create_publisher(CameraInfo, self.camera_info_topic, qos("reliable", 10))
        self.node.create_timer(DISCOVERY_PERIOD_S, self._discover)
        self._executor = SingleThreadedExecutor(context=self.node.context)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name=f"{self.node.get_name()}-executor", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._executor is not None:
            self._executor.shutdown(timeout_sec=1)
        self._stack.__exit__(None, None, None)

    def _spin(self) -> None:
        while not self._stop.is_set() and self.node.context.ok():
            try:
                self._executor.spin_once(timeout_sec=0.05)
            except Exception as exc:  # shutdown races end the loop, anything else is logged
                if not self._stop.is_set():
                    LOG.warning("executor: %s", exc)
                return

    # -- discovery and callbacks (executor thread)
    def _discover(self) -> None:
        """Timer callback: subscribe to new output topics, then update readiness."""
        try:
            self._subscribe_new_topics()
            subscribers = self.publisher.get_subscription_count()
            labels = self.node.count_publishers(self.labels_topic) if self.labels_topic in self._subscriptions else 0
            self._seen = (self.node_name in self.node.get_node_names(), subscribers, labels)
            if subscribers > 0 and labels > 0:
                self._ready.set()
        except Exception as exc:  # a graph query racing shutdown; the next tick tries again
            if not self._stop.is_set():
                LOG.warning("discovery: %s", exc)

    def _wanted(self, topic: str) -> bool:
        if topic in self.extra_topics:
            return True
        if not topic.startswith(self.out_prefix):
            return False
        return self.outputs is None or topic[len(self.out_prefix) :] in self.outputs

    def _subscribe_new_topics(self) -> None:
        for topic, types in self.node.get_topic_names_and_types():
            if not self._wanted(topic) or topic in self._subscriptions or topic in self._skipped:
                continue
            msgtype = types[0]
            cls = message_class(msgtype)
            if cls is None:
                LOG.warning("not receiving %s: type %s unknown here", topic, msgtype)
                self._skipped.add(topic)
                continue

            def callback(raw: bytes, topic: str = topic, msgtype: str = msgtype) -> None:
                self._on_message(topic, msgtype, raw)

            profile = qos(self._offered_reliability(topic), 10)
            self._subscriptions[topic] = self.node.create_subscription(cls, topic, callback, profile, raw=True)
            self._recorded = tuple(sorted(self._subscriptions))
            LOG.debug("receiving %s [%s]", topic, msgtype)

    def _offered_reliability(self, topic: str) -> str:
        """Reliable when every publisher offers reliable, else best effort (which matches any publisher)."""
        from rclpy.qos import ReliabilityPolicy

        infos = self.node.get_publishers_info_by_topic(topic)
        if infos and all(i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in infos):
            return "reliable"
        return "best_effort"

    def _on_message(self, topic: str, msgtype: str, raw: bytes) -> None:
        t = time.monotonic()
        try:
            if topic.startswith(self.out_prefix):
                self.tracker.arrived(topic[len(self.out_prefix) :], header_stamp_ns(raw), t)
            elif topic == DIAGNOSTICS:
                self._keep_status(raw)
        except Exception as exc:  # one malformed message must not end the executor thread
            LOG.warning("%s: cannot read a message (%s)", topic, exc)
        if self.record:
            self.received.put(Received(topic, msgtype, t, raw))

    def _keep_status(self, raw: bytes) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.serialization import deserialize_message

        for status in deserialize_message(raw, DiagnosticArray).status:
            if f"/{self.node_name}:" in status.name or status.name.startswith(f"{self.node_name}:"):
                with self._status_lock:
                    self._status = status

    # -- graph state (any thread)
    def ready(self) -> bool:
        """The node subscribes our input and we receive its labels topic (as last seen by the executor)."""
        return self._ready.is_set()

    def discovery_state(self) -> str:
        """What the graph showed at the last discovery tick, for a not-ready error."""
        node_seen, subscribers, labels = self._seen
        if not node_seen:
            return (
                f"no node named {self.node_name} was ever discovered on this domain: it is still starting, or DDS "
                "discovery between the two processes fails (see docs/bags.md, DDS transport)"
            )
        return (
            f"node {self.node_name} discovered; subscribers of {self.input_topic}: {subscribers}, "
            f"publishers of {self.labels_topic}: {labels} (not configured or activated yet?)"
        )

    @property
    def recorded_topics(self) -> list[str]:
        return list(self._recorded)

    def diagnostics(self) -> dict[str, str]:
        """The key/values of the node's latest diagnostic status (empty before the first one)."""
        with self._status_lock:
            status = self._status
        return {} if status is None else {kv.key: kv.value for kv in status.values} | {"_message": status.message}

    def wait_diagnostics(self, predicate: Callable[[dict[str, str]], bool], timeout: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            values = self.diagnostics()
            if values and predicate(values):
                return values
            time.sleep(0.05)
        return self.diagnostics()

    # -- publishing (caller's thread)
    def publish(self, raw: bytes | Any, camera_info: bytes | Any | None = None) -> float:
        """Publish an Image (serialized or a message) as it is, after its CameraInfo if given; returns the
        monotonic time just before the image went out. The evaluation sends a bag's messages this way."""
        if camera_info is not None:
            self.info_publisher.publish(camera_info)
        t = time.monotonic()
        self.publisher.publish(raw)
        return t

    def publish_camera_info(self, height: int, width: int) -> None:
        self.info_publisher.publish(camera_info_message(height, width))

    def send(self, msg: Any) -> int:
        """Send the Image ``msg`` stamped now (unique, increasing: outputs are matched to it by stamp) and track it;
        returns the stamp (ns)."""
        self._stamp = max(self._stamp + 1, time.time_ns())
        set_stamp(msg, self._stamp)
        self.tracker.sent(self._stamp, time.monotonic())
        self.publisher.publish(msg)
        return self._stamp

    # -- streaming (caller's thread)
    def wait_ready(
        self, msg: Any, timeout: float = 60.0, retry_s: float = 0.5, before_probe: Callable[[], None] | None = None
    ) -> float:
        """Send probe frames until one comes back complete (node started, configured, every output discovered).

        ``before_probe`` runs before each probe (e.g. to send camera_info, which best effort may lose before
        discovery). Returns the seconds it took.
        """
        tracker = self.tracker
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if before_probe is not None:
                before_probe()
            self.send(msg)
            with tracker.cond:
                if tracker.cond.wait_for(lambda: tracker.received > 0, retry_s):
                    tracker.clear_in_flight()
                    return time.monotonic() - started
        raise TimeoutError(f"no output from /{self.node_name} within {timeout:.0f} s (did the node start?)")

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
        tracker = self.tracker
        tracker.reset()
        stats = StreamStats()
        started = last_sent = time.monotonic()
        for i in range(count):
            if stop is not None and stop.is_set():
                break
            if rate_hz is not None:
                delay = started + i / rate_hz - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            else:
                with tracker.cond:
                    if not tracker.cond.wait_for(lambda: len(tracker.in_flight) < window, frame_timeout_s):
                        stats.lost += tracker.expire(frame_timeout_s)
                # Two frames arriving together would overwrite each other in the node's depth-1 input history (a
                # drop no counter sees): leave the node a moment to take the previous one.
                gap = last_sent + min_gap_s - time.monotonic()
                if gap > 0:
                    time.sleep(gap)
            self.send(messages[i % len(messages)])
            last_sent = time.monotonic()
            stats.sent += 1
            if on_progress is not None:
                on_progress(tracker.received)
        with tracker.cond:  # the last frames in flight
            tracker.cond.wait_for(lambda: not tracker.in_flight, frame_timeout_s)
            stats.lost += len(tracker.in_flight) + tracker.lost
            tracker.clear_in_flight()
            stats.seconds = time.monotonic() - started
            stats.received = tracker.received
            stats.latencies_ms = list(tracker.latencies_ms)
        time.sleep(settle_s)  # let the other outputs of the last frame arrive before counting them
        with tracker.cond:
            stats.per_topic = dict(tracker.per_topic)
        return stats
