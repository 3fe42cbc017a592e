"""The camera pose in the ground frame from a rigid transform (e.g. a TF lookup), in DrivableConfig's conventions.

A transform ground <- camera (translation t, unit quaternion q) gives the camera's optical centre (t) and the
rotation ground <- camera. The camera frame is taken to be an optical frame (REP-103: z forward, x right, y down),
as the image header's frame_id is. DrivableConfig builds ground <- optical as Rz(yaw) Ry(pitch) Rx(roll) B, with B
mapping the optical axes onto the un-rotated body (x forward, y left, z up); so Rz Ry Rx = R B^T, and yaw, pitch,
roll are its Z-Y-X Euler angles (pitch positive = looking down, roll positive = left side up). No ROS inside.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .config import DrivableConfig
from .geometry import BODY_FROM_OPTICAL

# Rounding of a pose taken from TF: a transform that jitters by less leaves the precomputed lookups in place.
POSITION_QUANTUM_M = 1e-3
ANGLE_QUANTUM_RAD = 1e-4


@dataclass(frozen=True)
class CameraPose:
    """Camera position (m) and orientation (rad) in the ground frame, as DrivableConfig's camera_* fields."""

    x: float = 0.0
    y: float = 0.0
    height: float = 1.2
    pitch: float = 0.0
    roll: float = 0.0
    yaw: float = 0.0

    @classmethod
    def of_config(cls, config: DrivableConfig) -> CameraPose:
        c = config
        return cls(c.camera_x, c.camera_y, c.camera_height, c.camera_pitch, c.camera_roll, c.camera_yaw)

    def rounded(self) -> CameraPose:
        """The pose on a 1 mm / 0.1 mrad lattice (float noise and tiny jitter then map to the same lookups)."""

        def q(value: float, step: float) -> float:
            return round(value / step) * step + 0.0  # + 0.0: no negative zero

        return CameraPose(
            q(self.x, POSITION_QUANTUM_M),
            q(self.y, POSITION_QUANTUM_M),
            q(self.height, POSITION_QUANTUM_M),
            q(self.pitch, ANGLE_QUANTUM_RAD),
            q(self.roll, ANGLE_QUANTUM_RAD),
            q(self.yaw, ANGLE_QUANTUM_RAD),
        )

    def applied_to(self, config: DrivableConfig) -> DrivableConfig:
        """``config`` with this pose in its camera_* fields, validated (ValueError naming a value out of range)."""
        return config.replace(
            camera_x=self.x,
            camera_y=self.y,
            camera_height=self.height,
            camera_pitch=self.pitch,
            camera_roll=self.roll,
            camera_yaw=self.yaw,
        )

    def describe(self) -> str:
        return (
            f"x {self.x:.3f} m, y {self.y:.3f} m, height {self.height:.3f} m, pitch {self.pitch:.4f}, "
            f"roll {self.roll:.4f}, yaw {self.yaw:.4f} rad"
        )


def rotation_from_quaternion(q: Sequence[float]) -> np.ndarray:
    """3x3 rotation of a quaternion given as (x, y, z, w), the order of geometry_msgs/Quaternion."""
    x, y, z, w = (float(v) for v in q)
    norm = math.sqrt(x * x + y * y + z * z + w * w)
    if not math.isfinite(norm) or norm < 1e-9:
        raise ValueError(f"quaternion {tuple(q)} has no rotation (zero or non-finite norm)")
    x, y, z, w = x / norm, y / norm, z / norm, w / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def angles_from_rotation(ground_from_optical: np.ndarray) -> tuple[float, float, float]:
    """(pitch, roll, yaw) of a ground <- optical rotation; the inverse of geometry.ground_from_optical."""
    m = np.asarray(ground_from_optical, dtype=np.float64) @ BODY_FROM_OPTICAL.T  # = Rz(yaw) Ry(pitch) Rx(roll)
    pitch = math.asin(max(-1.0, min(1.0, -m[2, 0])))
    yaw = math.atan2(m[1, 0], m[0, 0])
    roll = math.atan2(m[2, 1], m[2, 2])
    return pitch, roll, yaw


def pose_from_transform(translation: Sequence[float], rotation: Sequence[float]) -> CameraPose:
    """The pose of a transform ground <- optical camera frame: translation (x, y, z), quaternion (x, y, z, w)."""
    tx, ty, tz = (float(v) for v in translation)
    if not all(math.isfinite(v) for v in (tx, ty, tz)):
        raise ValueError(f"translation {tuple(translation)} is not finite")
    pitch, roll, yaw = angles_from_rotation(rotation_from_quaternion(rotation))
    return CameraPose(tx, ty, tz, pitch, roll, yaw)
