"""Camera pose from a transform ground <- optical frame (what a TF lookup gives), checked on hand-worked transforms.

Quaternions are (x, y, z, w). The optical frame (z forward, x right, y down) of a level camera looking along ground
+x is the quaternion B = (-0.5, 0.5, -0.5, 0.5) (the usual camera_link -> camera_optical_frame rotation, rpy
(-pi/2, 0, -pi/2)): its rotation matrix has columns x_opt = (0, -1, 0) (right), y_opt = (0, 0, -1) (down),
z_opt = (1, 0, 0) (forward). A camera turned by a rotation A of the body is A * B (Hamilton product), written
out below for A about y (pitch), x (roll) and z (yaw) with c = cos(angle / 2), s = sin(angle / 2).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from stdc_ros.drivable import DrivableConfig, Intrinsics
from stdc_ros.drivable.geometry import GroundCamera, ground_from_optical
from stdc_ros.drivable.pose import (
    CameraPose,
    angles_from_rotation,
    pose_from_transform,
    rotation_from_quaternion,
)

LEVEL = (-0.5, 0.5, -0.5, 0.5)
K = Intrinsics(400.0, 400.0, 319.5, 239.5, 640, 480)


def pitched(angle: float) -> tuple[float, float, float, float]:
    """(0, s, 0, c) * B: looking down by ``angle``."""
    c, s = math.cos(angle / 2), math.sin(angle / 2)
    return (-(c + s) / 2, (c + s) / 2, -(c - s) / 2, (c - s) / 2)


def rolled(angle: float) -> tuple[float, float, float, float]:
    """(s, 0, 0, c) * B: rolled about the forward axis, left side up for a positive ``angle``."""
    c, s = math.cos(angle / 2), math.sin(angle / 2)
    return (-(c - s) / 2, (c + s) / 2, -(c - s) / 2, (c + s) / 2)


def yawed(angle: float) -> tuple[float, float, float, float]:
    """(0, 0, s, c) * B: turned left by ``angle``."""
    c, s = math.cos(angle / 2), math.sin(angle / 2)
    return (-(c + s) / 2, (c - s) / 2, -(c - s) / 2, (c + s) / 2)


def test_a_level_optical_frame_mount_has_no_angles() -> None:
    np.testing.assert_allclose(rotation_from_quaternion(LEVEL), [[0, 0, 1], [-1, 0, 0], [0, -1, 0]], atol=1e-12)
    pose = pose_from_transform((0.3, -0.1, 1.4), LEVEL)
    assert (pose.x, pose.y, pose.height) == (0.3, -0.1, 1.4)
    assert pose.pitch == pytest.approx(0.0, abs=1e-12)
    assert pose.roll == pytest.approx(0.0, abs=1e-12)
    assert pose.yaw == pytest.approx(0.0, abs=1e-12)


def test_a_pitched_camera() -> None:
    angle = 0.1
    rotation = rotation_from_quaternion(pitched(angle))
    np.testing.assert_allclose(rotation[:, 2], [math.cos(angle), 0.0, -math.sin(angle)], atol=1e-12)  # looks down
    pose = pose_from_transform((0.0, 0.0, 1.5), pitched(angle))
    assert pose.pitch == pytest.approx(angle) and pose.roll == pytest.approx(0.0, abs=1e-12)
    assert pose.yaw == pytest.approx(0.0, abs=1e-12)
    # The principal ray meets the ground h / tan(pitch) ahead, through the grid's own camera model.
    camera = GroundCamera.from_config(pose.applied_to(DrivableConfig()), K)
    x, y, valid = camera.pixel_to_ground(np.array([K.cx]), np.array([K.cy]))
    assert valid[0] and x[0] == pytest.approx(1.5 / math.tan(angle)) and y[0] == pytest.approx(0.0, abs=1e-9)


def test_a_rolled_camera() -> None:
    angle = 0.2
    rotation = rotation_from_quaternion(rolled(angle))
    # image right (optical x) tips down when the left side comes up
    np.testing.assert_allclose(rotation[:, 0], [0.0, -math.cos(angle), -math.sin(angle)], atol=1e-12)
    pose = pose_from_transform((0.0, 0.0, 1.2), rolled(angle))
    assert pose.roll == pytest.approx(angle)
    assert pose.pitch == pytest.approx(0.0, abs=1e-12) and pose.yaw == pytest.approx(0.0, abs=1e-12)
    # horizon rises towards the right of the image: the row of the horizon is smaller at the right edge
    camera = GroundCamera.from_config(pose.applied_to(DrivableConfig()), K)
    left, right = camera.horizon_row(np.array([0.0, K.width - 1.0]))
    assert right < K.cy < left


def test_a_yawed_camera_and_its_height_and_position() -> None:
    angle = 0.5
    rotation = rotation_from_quaternion(yawed(angle))
    np.testing.assert_allclose(rotation[:, 2], [math.cos(angle), math.sin(angle), 0.0], atol=1e-12)  # turned left
    pose = pose_from_transform((1.8, 0.4, 2.25), yawed(angle))
    assert (pose.x, pose.y, pose.height) == (1.8, 0.4, 2.25)
    assert pose.yaw == pytest.approx(angle)
    config = pose.applied_to(DrivableConfig())
    assert (config.camera_x, config.camera_y, config.camera_height, config.camera_yaw) == (1.8, 0.4, 2.25, angle)


def test_the_inverse_of_the_grid_rotation() -> None:
    rng = np.random.default_rng(0)
    for pitch, roll, yaw in rng.uniform([-1.4, -1.4, -3.1], [1.4, 1.4, 3.1], size=(50, 3)):
        got = angles_from_rotation(ground_from_optical(pitch, roll, yaw))
        np.testing.assert_allclose(got, (pitch, roll, yaw), atol=1e-9)


def test_quaternions_are_normalised_and_degenerate_ones_refused() -> None:
    doubled = tuple(2.0 * v for v in pitched(0.3))
    assert pose_from_transform((0, 0, 1), doubled).pitch == pytest.approx(0.3)
    with pytest.raises(ValueError, match="no rotation"):
        pose_from_transform((0, 0, 1), (0.0, 0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="not finite"):
        pose_from_transform((0, float("nan"), 1), LEVEL)


def test_a_pose_out_of_the_parameter_ranges_is_refused() -> None:
    below_ground = CameraPose(height=-0.3)
    with pytest.raises(ValueError, match="camera_height"):
        below_ground.applied_to(DrivableConfig())
    straight_down = pose_from_transform((0, 0, 1), pitched(math.pi / 2))
    with pytest.raises(ValueError, match="camera_pitch"):
        straight_down.applied_to(DrivableConfig())


def test_rounding_keeps_the_lookups_for_float_noise() -> None:
    pose = CameraPose(0.1 + 1e-9, -0.0, 1.2 - 1e-9, 0.05 + 1e-12, -1e-13, 0.0)
    assert pose.rounded() == CameraPose(0.1, 0.0, 1.2, 0.05, 0.0, 0.0)
    assert math.copysign(1.0, pose.rounded().roll) == 1.0  # no negative zero in the geometry key
    config = DrivableConfig()
    assert (
        pose.rounded().applied_to(config).geometry_key()
        == CameraPose(0.1, 0.0, 1.2, 0.05).applied_to(config).geometry_key()
    )
