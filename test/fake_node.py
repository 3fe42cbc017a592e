"""A stand-in for the segmentation node, for testing the evaluator: known answers, failures and delays.

Started like the real node (``fake_node.py --ros-args -r __node:=NAME -p ...``); subscribes ``~/in/image`` and
publishes ``~/out/labels`` (mono8, input header) and ``~/out/overlay``. Parameters (all optional):
``constant`` (class id every pixel gets), ``skip_sec`` (never answer frames whose stamp has this many seconds),
``delay_s`` (work per frame), ``silent`` (no topics at all: a node that never activates), ``qos.reliability`` /
``qos.depth`` (input QoS, as the real node), ``lose_every`` / ``drop_every`` (every n-th arriving frame is treated
as lost in transport: neither counted nor answered / as dropped by the node: counted, not answered). Publishes the
real node's /diagnostics counters (frames_received, frames_dropped, frames_processed) at 1 Hz.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image


def main() -> None:
    rclpy.init(args=sys.argv)
    node = Node("fake_stdc", automatically_declare_parameters_from_overrides=True)

    def param(name: str, default: object) -> object:
        return node.get_parameter(name).value if node.has_parameter(name) else default

    constant = int(param("constant", 3))
    skip_sec = int(param("skip_sec", -1))
    delay_s = float(param("delay_s", 0.0))
    lose_every = int(param("lose_every", 0))
    drop_every = int(param("drop_every", 0))
    counts = {"arrived": 0, "frames_received": 0, "frames_dropped": 0, "frames_processed": 0}
    reliable = str(param("qos.reliability", "best_effort")) == "reliable"
    depth = int(param("qos.depth", 1))
    qos_in = QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
    )
    qos_out = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
    silent = bool(param("silent", False))
    labels_pub = None if silent else node.create_publisher(Image, "~/out/labels", qos_out)
    overlay_pub = None if silent else node.create_publisher(Image, "~/out/overlay", qos_out)

    def on_image(msg: Image) -> None:
        counts["arrived"] += 1
        if lose_every and counts["arrived"] % lose_every == 0:
            return
        counts["frames_received"] += 1
        if drop_every and counts["arrived"] % drop_every == 0:
            counts["frames_dropped"] += 1
            return
        if msg.header.stamp.sec == skip_sec:
            return
        counts["frames_processed"] += 1
        if delay_s:
            time.sleep(delay_s)
        out = Image(header=msg.header, height=msg.height, width=msg.width, encoding="mono8", step=msg.width)
        out.data = np.full(msg.height * msg.width, constant, np.uint8).tobytes()
        labels_pub.publish(out)
        overlay_pub.publish(msg)

    diagnostics = node.create_publisher(DiagnosticArray, "/diagnostics", 10)

    def publish_diagnostics() -> None:
        values = [KeyValue(key=k, value=str(v)) for k, v in counts.items() if k != "arrived"]
        name = f"{node.get_fully_qualified_name()}: segmentation"
        diagnostics.publish(DiagnosticArray(status=[DiagnosticStatus(name=name, values=values)]))

    if not silent:
        node.create_subscription(Image, "~/in/image", on_image, qos_in)
        node.create_timer(1.0, publish_diagnostics)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
