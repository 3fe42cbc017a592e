"""Pinhole intrinsics for the camera_info of a made bag, and the documented assumption used for CamVid.

CamVid publishes no intrinsics for its 480x360 frames. We assume fx = fy = 432 px (0.9 x width, a horizontal
field of view of about 58 degrees, typical of the dash-mounted camcorder), the principal point at the image
centre and no distortion. Override with ``--fx/--fy/--cx/--cy`` or a ROS camera calibration YAML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..drivable.config import DrivableConfig
from ..drivable.intrinsics import Intrinsics
from ..errors import BagError


def camera_info_msg(camera: Intrinsics, store: Any, header: Any) -> Any:
    """A rosbags sensor_msgs/CameraInfo with the model of ``camera``."""
    types = store.types
    return types["sensor_msgs/msg/CameraInfo"](
        header=header,
        height=camera.height,
        width=camera.width,
        distortion_model=camera.distortion_model,
        d=np.asarray(camera.distortion, dtype=np.float64),
        k=camera.k(),
        r=np.eye(3, dtype=np.float64).ravel(),
        p=camera.p(),
        binning_x=0,
        binning_y=0,
        roi=types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )


# The node's fallback camera (DrivableConfig.default_*): fx = fy = 432, cx = 239.5, cy = 179.5 at 480x360.
CAMVID_INTRINSICS = Intrinsics.from_config(DrivableConfig())


def load_calibration(path: Path) -> Intrinsics:
    """Intrinsics from a ROS camera calibration YAML (``camera_calibration`` / camera_info_manager format)."""
    try:
        data = yaml.safe_load(Path(path).read_text())
        k = [float(v) for v in data["camera_matrix"]["data"]]
        dist = data.get("distortion_coefficients", {}).get("data", [0.0] * 5)
        return Intrinsics(
            fx=k[0],
            fy=k[4],
            cx=k[2],
            cy=k[5],
            width=int(data["image_width"]),
            height=int(data["image_height"]),
            distortion_model=str(data.get("distortion_model", "plumb_bob")),
            distortion=tuple(float(v) for v in dist),
        )
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise BagError(f"cannot read camera calibration {path}: {type(exc).__name__}: {exc}") from exc
