"""Pinhole intrinsics (from camera_info K or the config fallback), rescaled to the mask resolution."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .config import DrivableConfig


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera: pixel (u, v) = (fx * X / Z + cx, fy * Y / Z + cy) in the optical frame (x right, y down).

    Pixel centres sit at integer coordinates (OpenCV and ROS camera_info convention). Lens distortion is not
    modelled: feed rectified images, or accept the error of a mildly distorted lens.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

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
        """The configured fallback (CamVid assumption by default)."""
        return cls(
            config.default_fx,
            config.default_fy,
            config.default_cx,
            config.default_cy,
            config.default_width,
            config.default_height,
        )

    def scaled_to(self, width: int, height: int) -> Intrinsics:
        """The same camera seen at another resolution (a resize of the whole frame, no crop).

        Pixel centres map as u' = (u + 0.5) * s - 0.5, which is what cv2.resize does.
        """
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        return Intrinsics(
            self.fx * sx,
            self.fy * sy,
            (self.cx + 0.5) * sx - 0.5,
            (self.cy + 0.5) * sy - 0.5,
            int(width),
            int(height),
        )
