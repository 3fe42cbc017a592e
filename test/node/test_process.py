"""The node as users run it: a separate process started with `stdc-ros run` / the `stdc_ros_node` entry point
(what `ros2 run stdc_ros stdc_ros_node` executes), driven from this process over DDS; SIGINT/SIGTERM end it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from lifecycle_msgs.msg import State
from lifecycle_msgs.srv import GetState
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image

pytestmark = [pytest.mark.ros, pytest.mark.slow]

BIN = Path(sys.executable).parent
START_TIMEOUT = 30.0


def launch(command: list[str], domain_id: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "ROS_DOMAIN_ID": str(domain_id), "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen, sig: int) -> int:
    process.send_signal(sig)
    try:
        return process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"the node did not exit within 15 s of signal {sig}")


def test_stdc_ros_run_serves_a_separate_client_and_exits_on_sigint(
    ros: Any, frames: Any, tiny_onnx: Path, tmp_path: Path
) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        "/**:\n  ros__parameters:\n"
        f'    model_path: "{tiny_onnx}"\n'
        "    threads: 1\n"
        "    diagnostics:\n      latency_warn_ms: 1234.0\n"
    )
    name = f"cam_proc_{ros.domain_id}"
    log = tmp_path / "node.log"
    command = [str(BIN / "stdc-ros"), "run", "--params-file", str(params), "--ros-args", "-r", f"__node:={name}"]
    command += ["-p", "autostart:=true", "-p", "qos.reliability:=reliable", "-p", "qos.depth:=10"]
    command += ["-p", "overlay.alpha:=0.7"]
    process = launch(command, ros.domain_id, log)
    try:
        labels_out = ros.subscribe(Image, f"/{name}/out/labels")
        pub = ros.publisher(Image, f"/{name}/in/image")
        assert ros.wait_for(lambda: pub.get_subscription_count() > 0, START_TIMEOUT), log.read_text()
        rgb = frames.image()
        now = time.time_ns()
        # Until the node's publisher has discovered our subscriber it skips frames: publish until one comes back.
        deadline = time.monotonic() + 15.0
        while not labels_out.messages and time.monotonic() < deadline:
            pub.publish(frames.message(rgb, "bgr8", stamp_ns=now, frame_id="proc_cam"))
            ros.wait_for(lambda: labels_out.messages, 0.5)
        assert labels_out.messages, log.read_text()
        out = labels_out.messages[0]
        assert (out.height, out.width, out.encoding) == (60, 80, "mono8")
        assert frames.stamp(out) == now and out.header.frame_id == "proc_cam"

        state = ros.call(GetState, f"/{name}/get_state", GetState.Request()).current_state
        assert state.id == State.PRIMARY_STATE_ACTIVE
        names = ["qos.reliability", "qos.depth", "overlay.alpha", "diagnostics.latency_warn_ms", "drivable.max_range"]
        got = ros.call(GetParameters, f"/{name}/get_parameters", GetParameters.Request(names=names)).values
        assert got[0].string_value == "reliable" and got[1].integer_value == 10  # -p overrides
        assert got[2].double_value == pytest.approx(0.7)
        assert got[3].double_value == pytest.approx(1234.0)  # from --params-file
        assert got[4].double_value == pytest.approx(40.0)  # built-in default
        request = SetParameters.Request(parameters=[Parameter("overlay.alpha", value=2.0).to_parameter_msg()])
        [refused] = ros.call(SetParameters, f"/{name}/set_parameters", request).results
        assert not refused.successful and "overlay.alpha" in refused.reason
    finally:
        code = stop(process, signal.SIGINT)
    text = log.read_text()
    assert code == 0, text
    assert "Traceback" not in text and "shutting down" in text


def test_corrupt_compressed_frames_leave_one_warning_and_no_opencv_noise(
    ros: Any, frames: Any, tiny_onnx: Path, tmp_path: Path
) -> None:
    from sensor_msgs.msg import CompressedImage

    from stdc_ros.image_codec import encode_compressed

    from ..ros_harness import status_values

    name = f"cam_jpeg_{ros.domain_id}"
    log = tmp_path / "node.log"
    command = [str(BIN / "stdc-ros"), "run", "--params-file", "none", "--ros-args", "-r", f"__node:={name}"]
    command += ["-p", f"model_path:={tiny_onnx}", "-p", "threads:=1", "-p", "autostart:=true"]
    command += ["-p", "image_transport:=compressed", "-p", "qos.reliability:=reliable", "-p", "qos.depth:=10"]
    process = launch(command, ros.domain_id, log)
    try:
        labels_out = ros.subscribe(Image, f"/{name}/out/labels")
        pub = ros.publisher(CompressedImage, f"/{name}/in/image/compressed")
        assert ros.wait_for(lambda: pub.get_subscription_count() > 0, START_TIMEOUT), log.read_text()
        good = encode_compressed(frames.image(), "png")
        deadline = time.monotonic() + 15.0
        while not labels_out.messages and time.monotonic() < deadline:
            pub.publish(CompressedImage(format="png", data=good))
            ros.wait_for(lambda: labels_out.messages, 0.5)
        assert labels_out.messages, log.read_text()
        # one at a time: the node keeps only the newest frame, so a burst would be counted as dropped instead
        for n, data in enumerate((good[:40], b"\x89PNG\r\n\x1a\n" + bytes(30), bytes(range(256))), 1):
            pub.publish(CompressedImage(format="png", data=data))
            rejected = ros.wait_status(name, lambda s, n=n: status_values(s).get("frames_rejected") == str(n), 10.0)
            assert rejected, f"bad frame {n} was not counted as rejected"
    finally:
        code = stop(process, signal.SIGINT)
    text = log.read_text()
    assert code == 0, text
    assert text.count("skipped bad frame") == 1  # throttled
    assert not any(word in text for word in ("imdecode", "grfmt", "WARN:0", "ERROR:0")), text


def test_the_ros2_run_entry_point_reports_a_missing_model_in_one_line_and_exits_on_sigterm(
    ros: Any, tmp_path: Path
) -> None:
    log = tmp_path / "node.log"
    missing = tmp_path / "no_such_model.onnx"
    command = [str(BIN / "stdc_ros_node"), "--ros-args", "-r", "__ns:=/front", "-r", "__node:=seg"]
    command += ["-p", f"model_path:={missing}", "-p", "autostart:=true"]
    process = launch(command, ros.domain_id, log)
    try:
        assert ros.wait_for(lambda: "configure failed" in log.read_text(), START_TIMEOUT), log.read_text()
        state = ros.call(GetState, "/front/seg/get_state", GetState.Request(), timeout=15.0).current_state
        assert state.id == State.PRIMARY_STATE_UNCONFIGURED
    finally:
        code = stop(process, signal.SIGTERM)
    text = log.read_text()
    assert code == 0, text
    errors = [line for line in text.splitlines() if "configure failed" in line]
    assert len(errors) == 1 and str(missing) in errors[0] and "ERROR" in errors[0]
    assert "Traceback" not in text


def test_arguments_of_stdc_ros_run(tmp_path: Path) -> None:
    import argparse

    from stdc_ros.node import main

    parser = argparse.ArgumentParser()
    main.add_arguments(parser)
    args = parser.parse_args(["--namespace", "front", "--ros-args", "-p", "backend:=torch", "-r", "a:=b"])
    assert args.ros_args == ["-p", "backend:=torch", "-r", "a:=b"]
    default = main.default_params_file()
    assert default is not None and default.name == "stdc_ros.yaml" and default.is_file()
    argv = main.ros_arguments(args.ros_args, default, args.name, args.namespace)
    assert argv == [
        "--ros-args",
        "--params-file",
        str(default),
        "-r",
        "__ns:=/front",
        "-p",
        "backend:=torch",
        "-r",
        "a:=b",
    ]
    assert main.ros_arguments([], None) == []
    missing = argparse.Namespace(params_file=tmp_path / "none.yaml", ros_args=[], name=None, namespace=None)
    assert main.run(missing) == 2


def test_a_separate_client_gets_masks_of_real_camvid_and_hd_frames_from_the_packaged_model(
    ros: Any, frames: Any, tmp_path: Path
) -> None:
    """Issue 18's proof, run in both test environments (Kilted + numpy 2; Jazzy + numpy 1.26 + OpenCV 4.10):
    `stdc-ros run` with the packaged model answers a real CamVid frame (480x360) and an HD one (1280x720) sent by
    another process, at their own sizes, with the labels an in-process runtime of the same model gives."""
    import cv2
    import numpy as np

    from stdc_ros.harness.node_process import NodeLaunch, NodeProcess
    from stdc_ros.image_files import read_label_map, read_rgb
    from stdc_ros.resources import find_share_file
    from stdc_ros.runtime import create_runtime

    model = find_share_file("models/stdc1_camvid.onnx")
    sample = find_share_file("samples/camvid_demo/images/0001TP_008550.png")
    camvid = read_rgb(sample)
    truth = read_label_map(sample.parent.parent / "labels" / sample.name)
    hd = cv2.resize(camvid, (1280, 720), interpolation=cv2.INTER_LINEAR)
    name = f"seg_real_{ros.domain_id}"
    launch = NodeLaunch(
        name=name,
        model_path=model,
        backend="onnxruntime",
        params={"threads": "1", "qos.reliability": "reliable"},  # one reliable frame: HD exceeds Fast DDS's SHM
        domain_id=ros.domain_id,
        log_path=tmp_path / "node.log",
        command=(str(BIN / "stdc-ros"), "run"),
    )
    node = NodeProcess(launch).start()
    try:
        labels_out = ros.subscribe(Image, f"/{name}/out/labels")
        pub = ros.publisher(Image, f"/{name}/in/image", reliable=True, depth=1)
        assert ros.wait_for(lambda: pub.get_subscription_count() > 0, START_TIMEOUT), node.log_tail()
        # Until the node's publisher has discovered our subscriber it skips frames: publish until one comes back.
        deadline = time.monotonic() + 30.0
        while not labels_out.messages and time.monotonic() < deadline:
            pub.publish(frames.message(camvid, "bgr8", stamp_ns=1_000, frame_id="front_camera"))
            ros.wait_for(lambda: labels_out.messages, 1.0)
        assert labels_out.messages, node.log_tail()
        pub.publish(frames.message(hd, "bgr8", stamp_ns=2_000, frame_id="front_camera"))
        hd_out = ros.wait_for(lambda: labels_out.find(lambda m: frames.stamp(m) == 2_000), 30.0)
        assert hd_out is not None, "no labels for the 1280x720 frame\n" + node.log_tail()
    finally:
        code = node.stop(timeout_s=15.0)
    assert code == 0 and "Traceback" not in node.log_tail(200), node.log_tail()

    with create_runtime("onnxruntime", model, threads=1) as runtime:
        for image, out in ((camvid, labels_out.messages[0]), (hd, hd_out)):
            assert (out.height, out.width, out.encoding) == (*image.shape[:2], "mono8")
            assert out.header.frame_id == "front_camera"
            got = np.frombuffer(bytes(out.data), np.uint8).reshape(out.height, out.step)[:, : out.width]
            assert np.mean(got == runtime.infer(image).labels) > 0.999  # the same model, a separate process
            if image is camvid:  # and a real segmentation: most pixels of the annotated frame right
                known = truth < 11
                assert np.mean(got[known] == truth[known]) > 0.8
