"""Flat-ground camera geometry: ground points to pixels and pixels to ground points (no ROS, numpy only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import DrivableConfig
from .intrinsics import Intrinsics

# Columns are the optical axes (x right, y down, z forward) expressed in the un-rotated camera body frame
# (x forward, y left, z up).
BODY_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])

# A pixel counts as seeing the ground only if its ray descends at least this much (guards rounding at the horizon).
_MIN_DESCENT = 1e-6


def ground_from_optical(pitch: float, roll: float, yaw: float) -> np.ndarray:
    """Rotation taking optical-frame vectors to the ground frame: Rz(yaw) @ Ry(pitch) @ Rx(roll) @ body<-optical."""
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])  # +pitch turns the forward axis down
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cr, -sr], [0.0, sr, cr]])
    return rz @ ry @ rx @ BODY_FROM_OPTICAL


@dataclass(frozen=True)
class GroundCamera:
    """A pinhole camera at (x, y, height) in the ground frame, looking at the plane z = 0."""

    intrinsics: Intrinsics
    rotation: np.ndarray  # ground <- optical
    position: np.ndarray  # (3,) optical centre in the ground frame

    @classmethod
    def from_config(cls, config: DrivableConfig, intrinsics: Intrinsics) -> GroundCamera:
        rotation = ground_from_optical(config.camera_pitch, config.camera_roll, config.camera_yaw)
        position = np.array([config.camera_x, config.camera_y, config.camera_height])
        return cls(intrinsics, rotation, position)

    def project(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Ground points (z = 0) to continuous pixel coordinates; ``valid`` is False behind the camera."""
        k = self.intrinsics
        dx, dy, dz = x - self.position[0], y - self.position[1], -self.position[2]
        r = self.rotation  # optical = R^T (P - C), written out: a (N, 3) @ (3, 3) matmul is far slower here
        right = r[0, 0] * dx + r[1, 0] * dy + r[2, 0] * dz
        down = r[0, 1] * dx + r[1, 1] * dy + r[2, 1] * dz
        depth = r[0, 2] * dx + r[1, 2] * dy + r[2, 2] * dz
        valid = depth > 1e-9
        safe = np.where(valid, depth, 1.0)
        return k.fx * right / safe + k.cx, k.fy * down / safe + k.cy, valid

    def pixel_descent(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Ground-frame z component of the (unnormalised) ray through pixel (u, v); negative = hits the ground."""
        k = self.intrinsics
        r = self.rotation[2]
        return r[0] * (u - k.cx) / k.fx + r[1] * (v - k.cy) / k.fy + r[2]

    def pixel_index(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Flat index (row * width + col) of the pixel whose centre is nearest the image of each ground point.

        -1 where the point is behind the camera, outside the image, or where that pixel's own ray does not
        descend to the ground (so a pixel at or above the horizon can never be read as ground).
        """
        k = self.intrinsics
        u, v, valid = self.project(x, y)
        col = np.floor(np.where(valid, u, -1.0) + 0.5)
        row = np.floor(np.where(valid, v, -1.0) + 0.5)
        inside = valid & (col >= 0) & (col < k.width) & (row >= 0) & (row < k.height)
        inside &= self.pixel_descent(col, row) < -_MIN_DESCENT
        return np.where(inside, row * k.width + col, -1).astype(np.int64)

    def pixel_to_ground(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pixels to ground points; ``valid`` is False at or above the horizon."""
        k = self.intrinsics
        rays = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u, dtype=np.float64)], axis=-1)
        world = rays @ self.rotation.T
        dz = world[..., 2]
        valid = dz < -_MIN_DESCENT
        t = np.where(valid, -self.position[2] / np.where(valid, dz, -1.0), 0.0)
        return self.position[0] + t * world[..., 0], self.position[1] + t * world[..., 1], valid

    def horizon_row(self, u: np.ndarray) -> np.ndarray:
        """Image row of the horizon at column u (rays horizontal); inf where the horizon is vertical."""
        k = self.intrinsics
        r = self.rotation[2]
        with np.errstate(divide="ignore", invalid="ignore"):
            return k.cy - k.fy * (r[0] * (u - k.cx) / k.fx + r[2]) / r[1]
