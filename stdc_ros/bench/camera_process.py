"""A stand-in camera driver in a process of its own: publishes frames best effort at a fixed rate, stamped at publish.

Camera drivers publish from their own process with sensor-data QoS (best effort, keep last 5); what the node can
receive then depends on the transport settings of BOTH processes (a Fast DDS writer puts a sample into its own
shared-memory segment, so the publisher's segment size decides whether a large frame fits). Used by the transport
measurement (``python -m stdc_ros.bench.dds_transport``), the HD camera row of ``stdc-ros bench`` and the tests.

    python -m stdc_ros.bench.camera_process --topic /stdc_ros/in/image --size 1080x1920 --rate 5 --frames 50

Prints one JSON line at the end: frames sent, their stamps (ns) and the seconds spent publishing.
"""

from __future__ import annotations

import argparse
import array
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ENCODINGS = ("bgr8", "rgb8", "jpeg")


@dataclass(frozen=True)
class CameraSettings:
    topic: str
    height: int = 1080
    width: int = 1920
    rate_hz: float = 5.0
    frames: int = 50
    encoding: str = "bgr8"  # bgr8 | rgb8: sensor_msgs/Image; jpeg: sensor_msgs/CompressedImage (quality 90)
    reliability: str = "best_effort"
    depth: int = 5
    wait_subscribers: int = 1  # wait for this many matched subscriptions before the first frame
    wait_timeout_s: float = 30.0
    settle_s: float = 1.0  # after the match, so that the subscriber has matched us too

    def argv(self) -> list[str]:
        return [
            *("--topic", self.topic, "--size", f"{self.height}x{self.width}", "--rate", str(self.rate_hz)),
            *("--frames", str(self.frames), "--encoding", self.encoding, "--reliability", self.reliability),
            *("--depth", str(self.depth), "--wait-subscribers", str(self.wait_subscribers)),
            *("--wait-timeout", str(self.wait_timeout_s), "--settle", str(self.settle_s)),
        ]


@dataclass
class CameraReport:
    sent: int = 0
    stamps_ns: list[int] = field(default_factory=list)
    seconds: float = 0.0
    matched: bool = False  # a subscriber matched before the first frame
    bytes_per_frame: int = 0


def test_pattern(height: int, width: int, index: int) -> np.ndarray:
    """An RGB frame with structure (gradients, a moving bar, mild noise) that JPEG compresses like a real scene."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(index)
    r = u / max(width, 1) * 255
    g = v / max(height, 1) * 255
    b = 128 + 100 * np.sin((u + 40 * index) / 37.0) * np.cos(v / 23.0)
    rgb = np.stack([r, g, b], axis=2) + rng.normal(0.0, 4.0, (height, width, 1))
    bar = slice((index * 97) % max(width - 40, 1), (index * 97) % max(width - 40, 1) + 40)
    rgb[:, bar] = (20, 20, 20)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def make_messages(settings: CameraSettings, count: int = 4) -> list[Any]:
    """``count`` distinct messages in the camera's encoding (built once: a 6 MB frame takes a while in Python)."""
    from sensor_msgs.msg import CompressedImage, Image

    from ..image_codec import encode_compressed, encode_image

    messages = []
    for i in range(count):
        rgb = test_pattern(settings.height, settings.width, i)
        if settings.encoding == "jpeg":
            msg = CompressedImage(format="bgr8; jpeg compressed bgr8")
            msg.data = array.array("B", encode_compressed(rgb, "jpeg"))
        else:
            step, data = encode_image(rgb, settings.encoding)
            msg = Image(height=settings.height, width=settings.width, encoding=settings.encoding, step=step)
            msg.data = array.array("B", data)
        msg.header.frame_id = "camera_optical"
        messages.append(msg)
    return messages


def publish_frames(settings: CameraSettings) -> CameraReport:
    """Create the publisher, wait for subscribers, publish ``settings.frames`` frames on a fixed clock."""
    import rclpy
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CompressedImage, Image

    messages = make_messages(settings)
    rclpy.init()
    node = rclpy.create_node(f"camera_process_{os.getpid()}")
    reliability = ReliabilityPolicy.RELIABLE if settings.reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=settings.depth, reliability=reliability)
    msg_type = CompressedImage if settings.encoding == "jpeg" else Image
    publisher = node.create_publisher(msg_type, settings.topic, qos)
    report = CameraReport(bytes_per_frame=len(messages[0].data))
    try:
        deadline = time.monotonic() + settings.wait_timeout_s
        while publisher.get_subscription_count() < settings.wait_subscribers and time.monotonic() < deadline:
            time.sleep(0.05)
        report.matched = publisher.get_subscription_count() >= settings.wait_subscribers
        time.sleep(settings.settle_s)
        started = time.monotonic()
        last_stamp = 0
        for i in range(settings.frames):
            delay = started + i / settings.rate_hz - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            msg = messages[i % len(messages)]
            last_stamp = max(last_stamp + 1, time.time_ns())
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(last_stamp, 1_000_000_000)
            publisher.publish(msg)
            report.stamps_ns.append(last_stamp)
            report.sent += 1
        report.seconds = time.monotonic() - started
        time.sleep(0.5)  # best effort has no acknowledgements: leave the last frame time to leave
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return report


def child_environment(env: Mapping[str, str | None] | None, domain_id: int) -> dict[str, str]:
    """This process's environment with ``env`` applied (a None value removes the variable) and the domain set."""
    merged: dict[str, str | None] = {**os.environ, **(env or {})}
    merged |= {"ROS_DOMAIN_ID": str(domain_id), "PYTHONUNBUFFERED": "1"}
    return {key: value for key, value in merged.items() if value is not None}


class CameraProcess:
    """``publish_frames`` in a child process: this process's environment updated with ``env`` (None unsets)."""

    def __init__(self, settings: CameraSettings, domain_id: int, env: Mapping[str, str | None] | None = None) -> None:
        self.settings = settings
        self.env = child_environment(env, domain_id)
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> CameraProcess:
        command = [sys.executable, "-m", "stdc_ros.bench.camera_process", *self.settings.argv()]
        self.process = subprocess.Popen(
            command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        return self

    def wait(self, timeout_s: float) -> CameraReport:
        """Wait for the camera to finish; its report (RuntimeError with its stderr when it failed)."""
        assert self.process is not None
        try:
            out, err = self.process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
            raise RuntimeError(f"the camera process did not finish within {timeout_s:.0f} s:\n{err[-2000:]}") from None
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if self.process.returncode != 0 or not lines:
            raise RuntimeError(f"the camera process failed (exit {self.process.returncode}):\n{err[-2000:]}")
        return CameraReport(**json.loads(lines[-1]))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> CameraProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _size(text: str) -> tuple[int, int]:
    from ..runtime.conventions import parse_size

    return parse_size(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--size", type=_size, default=(1080, 1920), help="HxW (default 1080x1920)")
    parser.add_argument("--rate", type=float, default=5.0, help="frames per second (default 5)")
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--encoding", choices=ENCODINGS, default="bgr8")
    parser.add_argument("--reliability", choices=("best_effort", "reliable"), default="best_effort")
    parser.add_argument("--depth", type=int, default=5)
    parser.add_argument("--wait-subscribers", type=int, default=1)
    parser.add_argument("--wait-timeout", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=1.0)
    args = parser.parse_args(argv)
    settings = CameraSettings(
        args.topic,
        args.size[0],
        args.size[1],
        args.rate,
        args.frames,
        args.encoding,
        args.reliability,
        args.depth,
        args.wait_subscribers,
        args.wait_timeout,
        args.settle,
    )
    report = publish_frames(settings)
    print(json.dumps(report.__dict__), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
