"""Pinhole intrinsics: the one camera-model type of the package (camera_info K/P, the config fallback, made bags),
and the one place that rescales a camera to another resolution."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .config import DrivableConfig


def resized_pixel(coordinate: float, scale: float) -> float:
    """A pixel coordinate after a whole-frame resize by ``scale``: pixel centres sit at integer coordinates
    (OpenCV and ROS camera_info convention), so u' = (u + 0.5) * s - 0.5, which is what cv2.resize does."""
    return (coordinate + 0.5) * scale - 0.5


def scaled_camera_matrix(values: Sequence[float], sx: float, sy: float) -> list[float]:
    """A row-major camera matrix K (9 values) or projection P (12) for the image resized by (sx, sy).

    Row 0 (row 1) scales by sx (sy), its principal point as ``resized_pixel``; P's translation scales with its row
    and skew is kept in proportion. The last row ([0, 0, 1] or [0, 0, 1, 0]) stays.
    """
    if len(values) not in (9, 12):
        raise ValueError(f"expected 9 (K) or 12 (P) values, got {len(values)}")
    stride = len(values) // 3
    out = [float(v) for v in values]
    for row, scale in ((0, sx), (1, sy)):
        for column in range(stride):
            i = row * stride + column
            out[i] = resized_pixel(out[i], scale) if column == 2 else out[i] * scale
    return out


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera: pixel (u, v) = (fx * X / Z + cx, fy * Y / Z + cy) in the optical frame (x right, y down).

    Pixel centres sit at integer coordinates (OpenCV and ROS camera_info convention). The drivable geometry does
    not model lens distortion: feed rectified images, or accept the error of a mildly distorted lens. The
    distortion fields only travel with the camera (e.g. into the camera_info of a made bag).
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    distortion_model: str = "plumb_bob"
    distortion: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in (self.fx, self.fy, self.cx, self.cy)):
            raise ValueError(f"intrinsics must be finite: {self}")
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"focal lengths must be positive (fx={self.fx}, fy={self.fy}); is camera_info empty?")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")

    @classmethod
    def from_k(cls, k: Sequence[float], width: int, height: int) -> Intrinsics:
        """From a row-major 3x3 camera matrix (camera_info.k) or 3x4 projection (camera_info.p)."""
        if len(k) not in (9, 12):
            raise ValueError(f"expected 9 (K) or 12 (P) values, got {len(k)}")
        stride = 3 if len(k) == 9 else 4
        return cls(float(k[0]), float(k[stride + 1]), float(k[2]), float(k[stride + 2]), int(width), int(height))

    @classmethod
    def from_config(cls, config: DrivableConfig) -> Intrinsics:
        """The configured fallback (the CamVid assumption by default, see DrivableConfig)."""
        return cls(
            config.default_fx,
            config.default_fy,
            config.default_cx,
            config.default_cy,
            config.default_width,
            config.default_height,
        )

    @property
    def horizontal_fov_deg(self) -> float:
        return math.degrees(2 * math.atan2(self.width / 2, self.fx))

    def k(self) -> np.ndarray:
        """Row-major 3x3 camera matrix (camera_info.k)."""
        return np.array([self.fx, 0, self.cx, 0, self.fy, self.cy, 0, 0, 1], dtype=np.float64)

    def p(self) -> np.ndarray:
        """Row-major 3x4 projection of a monocular camera (camera_info.p: K with a zero translation column)."""
        return np.array([self.fx, 0, self.cx, 0, 0, self.fy, self.cy, 0, 0, 0, 1, 0], dtype=np.float64)

    def with_overrides(self, **values: float | None) -> Intrinsics:
        """A copy with the given fields replaced; None keeps a field (command-line overrides such as --fx)."""
        return dataclasses.replace(self, **{k: v for k, v in values.items() if v is not None})

    def scaled_to(self, width: int, height: int) -> Intrinsics:
        """The same camera seen at another resolution (a resize of the whole frame, no crop; see resized_pixel)."""
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        return dataclasses.replace(
            self,
            fx=self.fx * sx,
            fy=self.fy * sy,
            cx=resized_pixel(self.cx, sx),
            cy=resized_pixel(self.cy, sy),
            width=int(width),
            height=int(height),
        )
