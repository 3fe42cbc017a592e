"""Drivable area: image mask, ground-plane occupancy grid and free-space scan from a label map (no ROS inside)."""

from .config import PARAMETER_RANGES, DrivableConfig
from .grid import FREE, OCCUPIED, UNKNOWN, OccupancyGridData
from .intrinsics import Intrinsics
from .pipeline import DrivableArea, DrivableResult
from .scan import ScanData, scan_from_grid

__all__ = [
    "FREE",
    "OCCUPIED",
    "PARAMETER_RANGES",
    "UNKNOWN",
    "DrivableArea",
    "DrivableConfig",
    "DrivableResult",
    "Intrinsics",
    "OccupancyGridData",
    "ScanData",
    "scan_from_grid",
]
