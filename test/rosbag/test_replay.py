"""replay into real rclpy subscribers: content, timing (within tolerance) at a rate factor, /clock, topic
selection, remapping and loop."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from stdc_ros.errors import BagError
from stdc_ros.rosbag.make_bag import make_bag
from stdc_ros.rosbag.replay import ReplayOptions, plan_topics, replay
from stdc_ros.rosbag.ros import qos, ros_node

from ..bagtools import START_NS, topic_messages

pytestmark = pytest.mark.ros


class Recorder:
    """Subscriptions in their own rclpy context, spun in a thread; records (monotonic time, message)."""

    def __init__(self, domain_id: int, topics: dict[str, type]) -> None:
        self.domain_id, self.topics = domain_id, topics
        self.got: dict[str, list[tuple[float, object]]] = {t: [] for t in topics}
        self._stop = threading.Event()

    def __enter__(self) -> Recorder:
        from rclpy.executors import SingleThreadedExecutor

        self._ctx = ros_node("test_recorder", self.domain_id)
        node = self._ctx.__enter__()
        for topic, cls in self.topics.items():
            node.create_subscription(
                cls, topic, lambda m, t=topic: self.got[t].append((time.monotonic(), m)), qos("reliable", 100)
            )
        self._executor = SingleThreadedExecutor(context=node.context)
        self._executor.add_node(node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()
        return self

    def _spin(self) -> None:
        while not self._stop.is_set():
            self._executor.spin_once(timeout_sec=0.02)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._executor.shutdown(timeout_sec=1)
        self._ctx.__exit__(None, None, None)


@pytest.fixture(scope="module")
def bag_10hz(tmp_path_factory: pytest.TempPathFactory, sample_dirs: tuple[Path, Path]) -> Path:
    images, labels = sample_dirs
    return make_bag(
        images,
        tmp_path_factory.mktemp("replay") / "b",
        labels,
        rate_hz=10.0,
        limit=6,
        start_time_ns=START_NS,
        storage="sqlite3",
        progress=False,
    )


@pytest.mark.slow
def test_replay_cli_into_subscriber(bag_10hz: Path, ros_domain_id: int) -> None:
    """`stdc-ros replay` as a process at rate 2: 6 frames 50 ms apart, remapped; /clock runs; other topics silent."""
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import CameraInfo, Image

    topics = {"/test/image": Image, "/camera/camera_info": CameraInfo, "/camera/labels_gt": Image, "/clock": Clock}
    with Recorder(ros_domain_id, topics) as rec:
        cmd = [
            sys.executable,
            "-m",
            "stdc_ros.cli",
            "replay",
            str(bag_10hz),
            "--rate",
            "2",
            "--clock",
            "50",
            "--topics",
            "/camera/image_raw",
            "/camera/camera_info",
            "--remap",
            "/camera/image_raw:=/test/image",
            "--wait-for",
            "/test/image",
            "/camera/camera_info",
            "--delay",
            "0.3",
            "--no-progress",
        ]
        env = dict(os.environ, ROS_DOMAIN_ID=str(ros_domain_id))
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        time.sleep(0.5)
    assert proc.returncode == 0, proc.stderr
    assert "/test/image: 6" in proc.stdout
    images = rec.got["/test/image"]
    assert len(images) == 6 and len(rec.got["/camera/camera_info"]) == 6
    assert rec.got["/camera/labels_gt"] == []  # not selected
    # content: the same stamps and pixels as in the bag
    recorded = topic_messages(bag_10hz, "/camera/image_raw")
    for (_, got), (_, want) in zip(images, recorded):
        assert (got.header.stamp.sec, got.header.stamp.nanosec) == (want.header.stamp.sec, want.header.stamp.nanosec)
        assert np.array_equal(np.frombuffer(bytes(got.data), np.uint8), np.asarray(want.data))
    # timing: recorded 100 ms apart, played at rate 2 -> 50 ms apart (tolerance for a loaded 2-core machine)
    gaps = np.diff([t for t, _ in images]) * 1e3
    assert abs(np.median(gaps) - 50) < 15, gaps
    assert abs((images[-1][0] - images[0][0]) * 1e3 - 250) < 60, gaps
    # /clock: sim time from the bag start, advancing at twice wall speed
    clocks = [(t, m.clock.sec * 10**9 + m.clock.nanosec) for t, m in rec.got["/clock"]]
    assert len(clocks) >= 5
    assert clocks[0][1] >= START_NS and clocks[-1][1] <= START_NS + 600_000_000
    (t0, c0), (t1, c1) = clocks[0], clocks[-1]
    assert (c1 - c0) / 1e9 == pytest.approx(2 * (t1 - t0), abs=0.06)


@pytest.mark.slow
def test_replay_api_loop_and_stop(bag_10hz: Path, ros_domain_id: int) -> None:
    from sensor_msgs.msg import Image

    stop = threading.Event()
    options = ReplayOptions(
        rate=5.0,
        topics=("/camera/labels_gt",),
        loop=True,
        wait_for=("/camera/labels_gt",),
        domain_id=ros_domain_id,
        progress=False,
    )
    with Recorder(ros_domain_id, {"/camera/labels_gt": Image}) as rec:
        result: dict = {}
        thread = threading.Thread(target=lambda: result.update(stats=replay(bag_10hz, options, stop)))
        thread.start()
        deadline = time.monotonic() + 30
        while len(rec.got["/camera/labels_gt"]) < 9 and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()
        thread.join(10)
    stats = result["stats"]
    assert stats.loops >= 2 and stats.published["/camera/labels_gt"] >= 9
    stamps = [m.header.stamp.nanosec for _, m in rec.got["/camera/labels_gt"]]
    assert stamps[6:9] == stamps[0:3]  # the second pass plays the same messages again


def test_plan_topics_and_errors(bag_10hz: Path) -> None:
    from stdc_ros.rosbag.io import open_bag

    with open_bag(bag_10hz) as reader:
        plan, skipped = plan_topics(reader, ReplayOptions(remap={"/camera/image_raw": "/x"}))
        assert set(plan) == {"/camera/image_raw", "/camera/camera_info", "/camera/labels_gt"} and not skipped
        assert plan["/camera/image_raw"][0] == "/x"
        with pytest.raises(BagError, match="has no topic /nope"):
            plan_topics(reader, ReplayOptions(topics=("/nope",)))
    with pytest.raises(BagError, match="rate must be positive"):
        replay(bag_10hz, ReplayOptions(rate=0))


def test_cli_flags_make_the_options(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The parser returns ReplayOptions: defaults as the API's, every flag to its field, --clock [HZ] to two."""
    import argparse

    from stdc_ros.cli_options import options_from
    from stdc_ros.rosbag import replay as replay_module

    parser = argparse.ArgumentParser()
    replay_module.add_arguments(parser)

    def parse(*argv: str) -> ReplayOptions:
        args = parser.parse_args([str(tmp_path), *argv])
        return options_from(args, ReplayOptions, clock_hz=args.clock or 100.0)

    assert parse() == ReplayOptions()
    assert parse("-r", "2", "--clock", "-l", "--remap", "/a:=/b", "--dds-profile", "None", "--no-progress") == (
        ReplayOptions(rate=2.0, remap={"/a": "/b"}, clock=True, loop=True, dds_profile=None, progress=False)
    )
    assert parse("--clock", "50", "--topics", "/x", "--wait-for", "/y", "--qos-reliability", "best_effort") == (
        ReplayOptions(clock=True, clock_hz=50.0, topics=("/x",), wait_for=("/y",), reliability="best_effort")
    )
    assert parse("--start-offset", "1.5", "--delay", "2", "--wait-timeout", "3", "--qos-depth", "4") == (
        ReplayOptions(start_offset_s=1.5, delay_s=2.0, wait_timeout_s=3.0, depth=4)
    )
    assert parse("--domain-id", "7").domain_id == 7
    assert replay_module.run(parser.parse_args([str(tmp_path), "--remap", "nosep"])) == 2
    assert "--remap expects FROM:=TO" in caplog.text
