"""Pinhole intrinsics for the camera_info of a made bag, and the documented assumption used for CamVid.

CamVid publishes no intrinsics for its 480x360 frames. We assume fx = fy = 432 px (0.9 x width, a horizontal
field of view of about 58 degrees, typical of the dash-mounted camcorder), the principal point at the image
centre and no distortion. Override with ``--fx/--fy/--cx/--cy`` or a ROS camera calibration YAML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import BagError


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole model at ``width`` x ``height``; ``scaled_to`` adapts it to frames of another size."""

    width: int = 480
    height: int = 360
    fx: float = 432.0
    fy: float = 432.0
    cx: float = 239.5  # ROS pixel centres sit at integer coordinates: the centre of 480 px is 239.5
    cy: float = 179.5
    distortion_model: str = "plumb_bob"
    distortion: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)

    @property
    def horizontal_fov_deg(self) -> float:
        return math.degrees(2 * math.atan2(self.width / 2, self.fx))

    def scaled_to(self, width: int, height: int) -> CameraIntrinsics:
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        return replace(
            self,
            width=width,
            height=height,
            fx=self.fx * sx,
            fy=self.fy * sy,
            cx=(self.cx + 0.5) * sx - 0.5,
            cy=(self.cy + 0.5) * sy - 0.5,
        )

    def with_overrides(self, **values: float | None) -> CameraIntrinsics:
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    def k(self) -> np.ndarray:
        return np.array([self.fx, 0, self.cx, 0, self.fy, self.cy, 0, 0, 1], dtype=np.float64)

    def p(self) -> np.ndarray:
        return np.array([self.fx, 0, self.cx, 0, 0, self.fy, self.cy, 0, 0, 0, 1, 0], dtype=np.float64)

    def to_msg(self, store: Any, header: Any) -> Any:
        """A rosbags sensor_msgs/CameraInfo with this model."""
        types = store.types
        return types["sensor_msgs/msg/CameraInfo"](
            header=header,
            height=self.height,
            width=self.width,
            distortion_model=self.distortion_model,
            d=np.asarray(self.distortion, dtype=np.float64),
            k=self.k(),
            r=np.eye(3, dtype=np.float64).ravel(),
            p=self.p(),
            binning_x=0,
            binning_y=0,
            roi=types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
        )


CAMVID_INTRINSICS = CameraIntrinsics()


def load_calibration(path: Path) -> CameraIntrinsics:
    """Intrinsics from a ROS camera calibration YAML (``camera_calibration`` / camera_info_manager format)."""
    try:
        data = yaml.safe_load(Path(path).read_text())
        k = [float(v) for v in data["camera_matrix"]["data"]]
        dist = data.get("distortion_coefficients", {}).get("data", [0.0] * 5)
        return CameraIntrinsics(
            width=int(data["image_width"]),
            height=int(data["image_height"]),
            fx=k[0],
            fy=k[4],
            cx=k[2],
            cy=k[5],
            distortion_model=str(data.get("distortion_model", "plumb_bob")),
            distortion=tuple(float(v) for v in dist),
        )
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise BagError(f"cannot read camera calibration {path}: {type(exc).__name__}: {exc}") from exc
