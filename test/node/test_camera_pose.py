"""Where the grid and scan take the camera pose from (TF or the parameters), with a tf2_ros.Buffer stand-in here
and a real tf2_ros.Buffer where tf2_ros is importable (a ROS install). No DDS."""

from __future__ import annotations

import math

import pytest
from builtin_interfaces.msg import Time as TimeMsg

from stdc_ros.node.camera_pose import RETRY_S, CameraPoseSource
from stdc_ros.node.parameters import NodeConfig

from .tf_fakes import ExtrapolationException, FakeTfBuffer, transform

PITCH = 0.08  # looking down
C, S = math.cos(PITCH / 2), math.sin(PITCH / 2)
PITCHED = (-(C + S) / 2, (C + S) / 2, -(C - S) / 2, (C - S) / 2)  # (0, s, 0, c) * optical mount, see test_drivable_pose


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def stamp(sec: int = 12, nanosec: int = 500) -> TimeMsg:
    return TimeMsg(sec=sec, nanosec=nanosec)


@pytest.fixture
def buffer() -> FakeTfBuffer:
    tf = FakeTfBuffer()
    tf.set("base_footprint", "front_optical", (1.5, 0.2, 1.6), PITCHED)
    return tf


def test_the_pose_comes_from_tf_at_the_image_stamp(buffer: FakeTfBuffer) -> None:
    source = CameraPoseSource(lambda: buffer)
    config = NodeConfig(tf_timeout=0.25)
    choice = source.choose(stamp(), "front_optical", config)
    assert choice.source == "tf" and choice.error == ""
    assert choice.describe() == "tf (base_footprint <- front_optical)"
    d = choice.config
    assert (d.camera_x, d.camera_y, d.camera_height) == (1.5, 0.2, 1.6)
    assert d.camera_pitch == pytest.approx(PITCH, abs=1e-4) and d.camera_roll == 0.0 and d.camera_yaw == 0.0
    assert d.grid_resolution == config.drivable.grid_resolution  # everything else stays the parameters'
    [(target, camera, time, timeout)] = buffer.calls
    assert (target, camera) == ("base_footprint", "front_optical")
    assert time.nanoseconds == 12 * 10**9 + 500 and timeout.nanoseconds == 250_000_000
    assert source.choose(stamp(13), "front_optical", config).config is d  # unchanged pose: same config object


def test_the_camera_frame_parameter_overrides_the_header(buffer: FakeTfBuffer) -> None:
    buffer.set("base_footprint", "cam_override", (0.0, 0.0, 2.0), PITCHED)
    choice = CameraPoseSource(lambda: buffer).choose(
        stamp(), "front_optical", NodeConfig(tf_camera_frame="cam_override")
    )
    assert choice.source == "tf" and choice.config.camera_height == 2.0


def test_the_target_is_the_grids_ground_frame(buffer: FakeTfBuffer) -> None:
    from stdc_ros.drivable import DrivableConfig

    buffer.set("vehicle_ground", "front_optical", (0.0, 0.0, 0.9), PITCHED)
    config = NodeConfig(drivable=DrivableConfig(ground_frame="vehicle_ground"))
    choice = CameraPoseSource(lambda: buffer).choose(stamp(), "front_optical", config)
    assert choice.source == "tf" and choice.config.camera_height == 0.9


def test_a_failing_lookup_falls_back_to_the_parameters_and_is_retried_later(buffer: FakeTfBuffer) -> None:
    clock = Clock()
    source = CameraPoseSource(lambda: buffer, clock=clock)
    config = NodeConfig()
    choice = source.choose(stamp(), "rear_optical", config)
    assert choice.source == "parameters" and choice.config is config.drivable
    assert "base_footprint <- rear_optical" in choice.error and "LookupException" in choice.error
    assert "does not exist" in choice.error
    # within RETRY_S no lookup is made (a missing transform must not cost every frame a timeout)
    clock.now += RETRY_S / 2
    assert source.choose(stamp(), "rear_optical", config).error == choice.error
    assert len(buffer.calls) == 1
    clock.now += RETRY_S
    buffer.set("base_footprint", "rear_optical", (-1.0, 0.0, 1.0), PITCHED)
    assert source.choose(stamp(), "rear_optical", config).source == "tf"
    assert len(buffer.calls) == 2
    buffer.fail_with = ExtrapolationException("Lookup would require extrapolation into the future")
    clock.now += 10 * RETRY_S
    failed = source.choose(stamp(), "rear_optical", config)
    assert failed.source == "parameters" and "ExtrapolationException" in failed.error


def test_a_pose_outside_the_parameter_ranges_is_refused(buffer: FakeTfBuffer) -> None:
    buffer.set("base_footprint", "under", (0.0, 0.0, -0.5), PITCHED)  # below the ground plane
    choice = CameraPoseSource(lambda: buffer).choose(stamp(), "under", NodeConfig())
    assert choice.source == "parameters" and "camera_height" in choice.error and "unusable" in choice.error


def test_parameters_when_tf_is_off_unavailable_or_the_frame_unknown(buffer: FakeTfBuffer) -> None:
    off = CameraPoseSource(lambda: buffer).choose(stamp(), "front_optical", NodeConfig(tf_enabled=False))
    assert (off.source, off.detail, off.error) == ("parameters", "tf.enabled is false", "")
    missing = CameraPoseSource(None).choose(stamp(), "front_optical", NodeConfig())
    assert (missing.source, missing.detail, missing.error) == ("parameters", "tf2_ros is not installed", "")
    nameless = CameraPoseSource(lambda: buffer).choose(stamp(), "", NodeConfig())
    assert nameless.source == "parameters" and "tf.camera_frame" in nameless.error
    assert not buffer.calls


def test_the_buffer_is_made_on_first_use_only() -> None:
    made: list[FakeTfBuffer] = []

    def factory() -> FakeTfBuffer:
        made.append(FakeTfBuffer())
        made[-1].set("base_footprint", "cam", (0, 0, 1), PITCHED)
        return made[-1]

    source = CameraPoseSource(factory)
    source.choose(stamp(), "cam", NodeConfig(tf_enabled=False))
    assert not made
    source.choose(stamp(), "cam", NodeConfig())
    source.choose(stamp(), "cam", NodeConfig())
    assert len(made) == 1


def test_a_real_tf2_ros_buffer() -> None:
    tf2_ros = pytest.importorskip("tf2_ros", reason="tf2_ros has no wheels: only on a ROS 2 install")
    buffer = tf2_ros.Buffer()
    buffer.set_transform_static(transform("base_footprint", "front_optical", (0.5, 0.0, 1.4), PITCHED), "test")
    choice = CameraPoseSource(lambda: buffer).choose(stamp(), "front_optical", NodeConfig())
    assert choice.source == "tf", choice.error
    assert choice.config.camera_height == 1.4 and choice.config.camera_pitch == pytest.approx(PITCH, abs=1e-4)
    missing = CameraPoseSource(lambda: buffer).choose(stamp(), "nowhere", NodeConfig(tf_timeout=0.0))
    assert missing.source == "parameters" and isinstance(missing.error, str) and "nowhere" in missing.error
