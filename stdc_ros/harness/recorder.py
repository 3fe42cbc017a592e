"""The evaluator's side of the ROS graph: one publisher into the node, raw subscriptions to all its outputs.

Callbacks only stamp the arrival time (monotonic) and queue the serialized message; the evaluation loop decodes.
Only the executor thread queries the graph and creates subscriptions (from a timer): rclpy holds the GIL in those
calls, and a second thread calling into the middleware while the executor runs is a known source of rclpy/Fast DDS
lock inversions (ros2/rclpy#1722, eProsima/Fast-DDS#6193); a guard, not the fix of a hang seen here (that was the
TCP transport, see EvalOptions.dds_transport). The caller's thread only publishes and reads the queue.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..rosbag.ros import message_class, qos, ros_node

LOG = logging.getLogger(__name__)
DISCOVERY_PERIOD_S = 0.25


@dataclass(frozen=True)
class Received:
    topic: str
    msgtype: str
    t_recv: float  # time.monotonic() in the callback
    raw: bytes


class NodeClient:
    """Publishes frames on ``/NAME/in/image`` and records every ``/NAME/out/...`` topic and /diagnostics."""

    def __init__(
        self,
        node_name: str,
        domain_id: int,
        reliability: str,
        depth: int,
        extra_topics: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.node_name = node_name.strip("/")
        self.input_topic = f"/{self.node_name}/in/image"
        self.camera_info_topic = f"/{self.node_name}/in/camera_info"
        self.labels_topic = f"/{self.node_name}/out/labels"
        self.out_prefix = f"/{self.node_name}/out/"
        self.extra_topics = extra_topics
        self.received: queue.Queue[Received] = queue.Queue()
        self._reliability, self._depth = reliability, depth
        self._stack = ros_node("stdc_eval_client", domain_id, env)
        self._subscriptions: dict[str, Any] = {}
        self._skipped: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._executor: Any = None
        self._ready = threading.Event()
        self._recorded: tuple[str, ...] = ()
        self._seen: tuple[bool, int, int] = (False, 0, 0)  # node in the graph, input subscribers, labels publishers
        self.node: Any = None
        self.publisher: Any = None
        self.info_publisher: Any = None

    def __enter__(self) -> NodeClient:
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import CameraInfo, Image

        self.node = self._stack.__enter__()
        self.publisher = self.node.create_publisher(Image, self.input_topic, qos(self._reliability, self._depth))
        self.info_publisher = self.node.create_publisher(CameraInfo, self.camera_info_topic, qos("reliable", 10))
        self.node.create_timer(DISCOVERY_PERIOD_S, self._discover)
        self._executor = SingleThreadedExecutor(context=self.node.context)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name="eval-executor", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
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

    def publish(self, raw: bytes, camera_info: bytes | None = None) -> float:
        """Publish a serialized sensor_msgs/Image (after its CameraInfo, if given); returns the monotonic time
        just before the image was published."""
        if camera_info is not None:
            self.info_publisher.publish(camera_info)
        t = time.monotonic()
        self.publisher.publish(raw)
        return t

    def _discover(self) -> None:
        """Timer callback (executor thread): subscribe to new output topics, then update readiness."""
        try:
            self._subscribe_new_outputs()
            subscribers = self.publisher.get_subscription_count()
            labels = self.node.count_publishers(self.labels_topic) if self.labels_topic in self._subscriptions else 0
            self._seen = (self.node_name in self.node.get_node_names(), subscribers, labels)
            if subscribers > 0 and labels > 0:
                self._ready.set()
        except Exception as exc:  # a graph query racing shutdown; the next tick tries again
            if not self._stop.is_set():
                LOG.warning("discovery: %s", exc)

    def _subscribe_new_outputs(self) -> None:
        for topic, types in self.node.get_topic_names_and_types():
            wanted = topic.startswith(self.out_prefix) or topic in self.extra_topics
            if not wanted or topic in self._subscriptions or topic in self._skipped:
                continue
            msgtype = types[0]
            cls = message_class(msgtype)
            if cls is None:
                LOG.warning("not recording %s: type %s unknown here", topic, msgtype)
                self._skipped.add(topic)
                continue
            profile = qos(self._offered_reliability(topic), 10)

            def callback(raw: bytes, topic: str = topic, msgtype: str = msgtype) -> None:
                self.received.put(Received(topic, msgtype, time.monotonic(), raw))

            self._subscriptions[topic] = self.node.create_subscription(cls, topic, callback, profile, raw=True)
            self._recorded = tuple(sorted(self._subscriptions))
            LOG.debug("recording %s [%s]", topic, msgtype)

    def _offered_reliability(self, topic: str) -> str:
        """Reliable when every publisher offers reliable, else best effort (which matches any publisher)."""
        from rclpy.qos import ReliabilityPolicy

        infos = self.node.get_publishers_info_by_topic(topic)
        if infos and all(i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in infos):
            return "reliable"
        return "best_effort"

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
