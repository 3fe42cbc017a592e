"""ROS message conversion for the drivable-area outputs (the computation itself lives in stdc_ros.drivable).

Frames: the mask keeps the camera image's header (its optical frame). The grid is in ``config.ground_frame``.
The scan is in ``config.scan_frame_id``: the ground frame itself when ``scan_frame`` is empty (ranges measured
from its origin), otherwise a frame at the camera's ground point that ``scan_frame_transform`` describes.
All three carry the input image's stamp.
"""

from __future__ import annotations

import array

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import TransformStamped
from nav_msgs.msg import MapMetaData, OccupancyGrid
from sensor_msgs.msg import CameraInfo, Image, LaserScan
from std_msgs.msg import Header

from ..drivable.config import DrivableConfig
from ..drivable.grid import OccupancyGridData
from ..drivable.intrinsics import Intrinsics
from ..drivable.scan import ScanData


def _header(header: Header, frame_id: str) -> Header:
    """A new header with the input's stamp (copied, not shared) and the given frame."""
    return Header(stamp=Time(sec=header.stamp.sec, nanosec=header.stamp.nanosec), frame_id=frame_id)


def to_occupancy_grid(grid: OccupancyGridData, header: Header, frame_id: str) -> OccupancyGrid:
    """nav_msgs/OccupancyGrid: row-major, rows along y; origin = the grid's corner (x_min, y_min), no rotation."""
    msg = OccupancyGrid()
    msg.header = _header(header, frame_id)
    info = MapMetaData()
    info.map_load_time = Time(sec=header.stamp.sec, nanosec=header.stamp.nanosec)
    info.resolution = float(grid.resolution)
    info.width = int(grid.width)
    info.height = int(grid.height)
    info.origin.position.x = float(grid.origin_x)
    info.origin.position.y = float(grid.origin_y)
    info.origin.orientation.w = 1.0
    msg.info = info
    data = np.ascontiguousarray(grid.data, dtype=np.int8)
    msg.data = array.array("b", data.tobytes())  # array.array skips rclpy's per-element checks
    return msg


def to_laser_scan(scan: ScanData, header: Header, frame_id: str) -> LaserScan:
    """sensor_msgs/LaserScan; +inf = free up to range_max, NaN = not observed (REP-117). All beams at one instant."""
    msg = LaserScan()
    msg.header = _header(header, frame_id)
    msg.angle_min = float(scan.angle_min)
    msg.angle_max = float(scan.angle_max)
    msg.angle_increment = float(scan.angle_increment)
    msg.time_increment = 0.0
    msg.scan_time = 0.0
    msg.range_min = float(scan.range_min)
    msg.range_max = float(scan.range_max)
    msg.ranges = array.array("f", np.ascontiguousarray(scan.ranges, dtype=np.float32).tobytes())
    return msg


def to_mask_image(mask: np.ndarray, header: Header) -> Image:
    """sensor_msgs/Image mono8 (0 / 255) with the input image's header (stamp and optical frame)."""
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    msg = Image()
    msg.header = _header(header, header.frame_id)
    msg.height, msg.width = (int(n) for n in mask.shape)
    msg.encoding = "mono8"
    msg.is_bigendian = 0
    msg.step = int(mask.shape[1])
    msg.data = array.array("B", np.ascontiguousarray(mask, dtype=np.uint8).tobytes())
    return msg


def intrinsics_from_camera_info(info: CameraInfo, rectified: bool = False) -> Intrinsics | None:
    """Intrinsics of the image the camera actually publishes (binning and ROI applied), or None if uncalibrated.

    ``rectified``: use P (the rectified image's camera) instead of K (the raw image's camera).
    """
    values = info.p if rectified else info.k
    if len(values) < 9 or values[0] <= 0.0:
        return None  # all-zero camera_info means "not calibrated": let the caller fall back to the config
    full = Intrinsics.from_k(list(values), int(info.width), int(info.height))
    roi = info.roi
    x0, y0 = (int(roi.x_offset), int(roi.y_offset)) if roi.width and roi.height else (0, 0)
    width, height = (int(roi.width), int(roi.height)) if roi.width and roi.height else (full.width, full.height)
    bx, by = max(1, int(info.binning_x)), max(1, int(info.binning_y))
    return Intrinsics(
        full.fx / bx,
        full.fy / by,
        (full.cx - x0 + 0.5) / bx - 0.5,
        (full.cy - y0 + 0.5) / by - 0.5,
        max(1, width // bx),
        max(1, height // by),
    )


def scan_frame_transform(config: DrivableConfig, stamp: Time | None = None) -> TransformStamped | None:
    """The static transform ground_frame -> scan_frame (camera ground point, no rotation); None without one."""
    if not config.scan_frame:
        return None
    msg = TransformStamped()
    msg.header.frame_id = config.ground_frame
    if stamp is not None:
        msg.header.stamp = Time(sec=stamp.sec, nanosec=stamp.nanosec)
    msg.child_frame_id = config.scan_frame
    msg.transform.translation.x = float(config.camera_x)
    msg.transform.translation.y = float(config.camera_y)
    msg.transform.rotation.w = 1.0
    return msg
