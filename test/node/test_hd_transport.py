"""Camera resolutions over real DDS: the node as users run it (`stdc-ros run`, which applies the packaged Fast DDS
profile to itself) and a camera driver in a process of its own, publishing best effort with the same profile.
640x480, 1280x720 and 1920x1080 frames (0.9 to 6.2 MB, all over Fast DDS's default 512 KB shared-memory segment)
all reach the node and are answered at their own size."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sensor_msgs.msg import Image

from stdc_ros.bench.camera_process import CameraProcess, CameraSettings
from stdc_ros.dds_profile import hd_profile_path, profile_environment

pytestmark = [pytest.mark.ros, pytest.mark.slow]

BIN = Path(sys.executable).parent
SIZES = ((480, 640), (720, 1280), (1080, 1920))
FRAMES = 5


def test_camera_resolutions_reach_the_node_with_the_shipped_profile(ros: Any, tiny_onnx: Path, tmp_path: Path) -> None:
    name = f"hd_node_{ros.domain_id}"
    params = tmp_path / "params.yaml"
    params.write_text(f'/**:\n  ros__parameters:\n    model_path: "{tiny_onnx}"\n    threads: 1\n')
    log = tmp_path / "node.log"
    command = [str(BIN / "stdc-ros"), "run", "--params-file", str(params), "--ros-args", "-r", f"__node:={name}"]
    command += ["-p", "autostart:=true"]
    # The node decides for itself (stdc-ros run); the camera gets the profile from its environment, as on a vehicle.
    node_env = {k: v for k, v in os.environ.items() if k not in profile_environment("x", {})}
    node_env |= {"ROS_DOMAIN_ID": str(ros.domain_id), "PYTHONUNBUFFERED": "1"}
    camera_env = profile_environment(hd_profile_path(), {})
    assert camera_env, "the packaged profile is missing"
    labels = ros.subscribe(Image, f"/{name}/out/labels")
    with log.open("wb") as out:
        node = subprocess.Popen(command, env=node_env, stdout=out, stderr=subprocess.STDOUT)
    try:
        assert ros.wait_for(lambda: ros.client.count_publishers(f"/{name}/out/labels") > 0, 60.0), log.read_text()
        sent_total = 0
        for height, width in SIZES:
            settings = CameraSettings(f"/{name}/in/image", height, width, rate_hz=4.0, frames=FRAMES, settle_s=2.0)
            with CameraProcess(settings, ros.domain_id, camera_env) as camera:
                report = camera.wait(timeout_s=90.0)
            assert report.matched and report.sent == FRAMES
            sent_total += FRAMES
            ros.wait_for(lambda r=report: set(r.stamps_ns) <= labels.stamps(), 5.0)
            answers = [m for m in labels.messages if ros_stamp(m) in set(report.stamps_ns)]
            assert answers, f"no answer at {height}x{width}; node log:\n{log.read_text()[-3000:]}"
            assert {(m.height, m.width, m.encoding) for m in answers} == {(height, width, "mono8")}
        # Every frame reached the node (none lost in transport); any without an answer was the node's own drop.
        status = ros.wait_status(name, lambda s: values(s).get("frames_received") == str(sent_total), 8.0)
        assert status is not None, f"the node did not receive all {sent_total} frames: {last_values(ros, name)}"
        got = values(status)
        answered = len({ros_stamp(m) for m in labels.messages})
        assert answered + int(got["frames_dropped"]) == sent_total
        assert got["frames_lost_before_node_estimated"] == "0"
        assert "DDS: Fast DDS profile" in log.read_text()
    finally:
        node.send_signal(signal.SIGINT)
        try:
            node.wait(15)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()


def ros_stamp(msg: Any) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def values(status: Any) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def last_values(ros: Any, name: str) -> dict[str, str]:
    statuses = ros.statuses(name)
    return values(statuses[-1]) if statuses else {}
