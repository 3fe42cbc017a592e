"""The drivable grid's camera model in the running node: pose from TF (a tf2_ros.Buffer stand-in) with the
parameters as fallback, intrinsics from camera_info K, or P with ``rectified``, or the named fallback; /diagnostics
says which. Each grid is checked against the drivable module run on the node's own label output."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from nav_msgs.msg import OccupancyGrid
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image

from stdc_ros.drivable import DrivableArea, DrivableConfig, Intrinsics
from stdc_ros.drivable.pose import pose_from_transform

from ..ros_harness import scene, status_values
from .tf_fakes import FakeTfBuffer

pytestmark = [pytest.mark.ros]

PITCH = 0.3  # steep, so the 60x80 frame sees ground inside the grid
C, S = math.cos(PITCH / 2), math.sin(PITCH / 2)
PITCHED = (-(C + S) / 2, (C + S) / 2, -(C - S) / 2, (C - S) / 2)  # (0, s, 0, c) * optical mount
TRANSLATION = (0.4, 0.0, 2.0)


def grid_of(msg: OccupancyGrid) -> np.ndarray:
    return np.asarray(msg.data, dtype=np.int8).reshape(msg.info.height, msg.info.width)


def labels_of(msg: Image) -> np.ndarray:
    return np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width)


def expected_grid(labels: np.ndarray, config: DrivableConfig, intrinsics: Intrinsics | None) -> np.ndarray:
    result = DrivableArea(config).process(labels, intrinsics, want_grid=True, want_scan=False)
    assert result.grid is not None
    return result.grid.data


@pytest.fixture
def rig(ros: Any, frames: Any, tiny_onnx: Path) -> Any:
    class Rig:
        name = f"seg_geom_{ros.domain_id}"
        tf = FakeTfBuffer()

    rig = Rig()
    rig.tf.set("base_footprint", "front_optical", TRANSLATION, PITCHED)
    params = {
        "model_path": str(tiny_onnx),
        "autostart": True,
        "diagnostics.latency_warn_ms": 0.0,  # the test's stamps are near 0: no latency warning in the way
        "drivable.drivable_classes": list(range(11)),  # every class of the random model: a non-empty area
        "drivable.ego_connected": False,
        "drivable.morph_kernel": 0,
        "drivable.grid_resolution": 0.25,
        "drivable.grid_x_max": 20.0,
    }
    rig.node = ros.start_node(rig.name, params, tf_buffer=rig.tf)
    rig.grids = ros.subscribe(OccupancyGrid, f"/{rig.name}/out/drivable_grid")
    rig.labels = ros.subscribe(Image, f"/{rig.name}/out/labels")
    rig.pub = ros.publisher(Image, f"/{rig.name}/in/image")
    rig.info_pub = ros.publisher(CameraInfo, f"/{rig.name}/in/camera_info")
    ros.wait_matched(rig.pub, [f"/{rig.name}/out/drivable_grid", f"/{rig.name}/out/labels"])
    ros.wait_matched(rig.info_pub)
    ros.wait_output_subscribed(rig.node, "labels")
    assert ros.wait_for(lambda: rig.node._drivable.grid.get_subscription_count() > 0)
    rgb = scene(60, 80, seed=1)

    def send(stamp_ns: int, frame_id: str) -> tuple[np.ndarray, np.ndarray]:
        rig.pub.publish(frames.message(rgb, "rgb8", stamp_ns=stamp_ns, frame_id=frame_id))
        grid = ros.wait_for(lambda: rig.grids.find(lambda m: frames.stamp(m) == stamp_ns), 10.0)
        labels = ros.wait_for(lambda: rig.labels.find(lambda m: frames.stamp(m) == stamp_ns), 10.0)
        assert grid is not None and labels is not None, f"no grid/labels for {stamp_ns}"
        return grid_of(grid), labels_of(labels)

    rig.send = send
    return rig


def test_pose_from_tf_then_the_parameters_when_the_lookup_fails(ros: Any, rig: Any) -> None:
    parameters = rig.node.config.drivable
    from_tf = pose_from_transform(TRANSLATION, PITCHED).rounded().applied_to(parameters)
    grid, labels = rig.send(1_000, "front_optical")
    assert np.array_equal(grid, expected_grid(labels, from_tf, None))
    assert not np.array_equal(grid, expected_grid(labels, parameters, None)), "the TF pose made no difference"
    status = ros.wait_status(rig.name, lambda s: status_values(s)["camera_pose"].startswith("tf"))
    assert status is not None
    values = status_values(status)
    assert values["camera_pose"] == "tf (base_footprint <- front_optical)" and values["camera_pose_error"] == ""
    # no camera_info: a WARN naming the fallback intrinsics the grid used
    assert status.level == DiagnosticStatus.WARN and "fx=432 fy=432 cx=239.5 cy=179.5 at 480x360" in status.message
    assert "no camera_info" in values["intrinsics"]
    lookup = rig.tf.calls[-1]
    assert lookup[:2] == ("base_footprint", "front_optical") and lookup[2].nanoseconds == 1_000

    grid, labels = rig.send(2_000, "rear_optical")  # a frame TF does not know
    assert np.array_equal(grid, expected_grid(labels, parameters, None))
    status = ros.wait_status(rig.name, lambda s: status_values(s)["camera_pose"].startswith("parameters"))
    assert status is not None
    error = status_values(status)["camera_pose_error"]
    assert "base_footprint <- rear_optical" in error and "LookupException" in error

    [ok] = ros.call(
        SetParameters,
        f"/{rig.name}/set_parameters",
        SetParameters.Request(parameters=[Parameter("tf.enabled", value=False).to_parameter_msg()]),
    ).results
    assert ok.successful
    grid, labels = rig.send(3_000, "front_optical")
    assert np.array_equal(grid, expected_grid(labels, parameters, None))
    status = ros.wait_status(rig.name, lambda s: "tf.enabled is false" in status_values(s)["camera_pose"])
    assert status is not None and status_values(status)["camera_pose_error"] == ""


def test_camera_info_k_or_p_with_rectified(ros: Any, rig: Any) -> None:
    info = CameraInfo(width=80, height=60)
    info.k = [70.0, 0.0, 39.5, 0.0, 70.0, 29.5, 0.0, 0.0, 1.0]  # raw camera
    info.p = [55.0, 0.0, 41.0, 0.0, 0.0, 55.0, 27.0, 0.0, 0.0, 0.0, 1.0, 0.0]  # rectified camera: another matrix
    rig.info_pub.publish(info)
    assert ros.wait_for(lambda: rig.node._camera_info is not None)
    from_tf = pose_from_transform(TRANSLATION, PITCHED).rounded().applied_to(rig.node.config.drivable)
    k = Intrinsics(70.0, 70.0, 39.5, 29.5, 80, 60)
    p = Intrinsics(55.0, 55.0, 41.0, 27.0, 80, 60)

    grid, labels = rig.send(10_000, "front_optical")
    assert np.array_equal(grid, expected_grid(labels, from_tf, k))
    status = ros.wait_status(rig.name, lambda s: status_values(s)["intrinsics"] == "camera_info K")
    assert status is not None and status.level == DiagnosticStatus.OK, status.message

    [ok] = ros.call(
        SetParameters,
        f"/{rig.name}/set_parameters",
        SetParameters.Request(parameters=[Parameter("rectified", value=True).to_parameter_msg()]),
    ).results
    assert ok.successful and rig.node.config.rectified
    grid, labels = rig.send(11_000, "front_optical")
    assert np.array_equal(grid, expected_grid(labels, from_tf, p))
    assert not np.array_equal(expected_grid(labels, from_tf, p), expected_grid(labels, from_tf, k))
    status = ros.wait_status(rig.name, lambda s: status_values(s)["intrinsics"] == "camera_info P")
    assert status is not None

    info.p = [0.0] * 12  # rectified but no P: the fallback, and it says why
    rig.info_pub.publish(info)
    assert ros.wait_for(lambda: rig.node._camera_info is not None and rig.node._camera_info.p[0] == 0.0)
    rig.send(12_000, "front_optical")
    status = ros.wait_status(rig.name, lambda s: "camera_info P is empty" in status_values(s)["intrinsics"])
    assert status is not None and status.level == DiagnosticStatus.WARN
