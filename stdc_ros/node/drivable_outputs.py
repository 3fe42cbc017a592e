"""Wires the drivable module into the node: ~/out/drivable_mask, ~/out/drivable_grid, ~/out/freespace_scan.

Each output is computed only while its topic has subscribers; the messages come from drivable_messages. The grid
and scan use camera_info's K (P with the ``rectified`` parameter), or the configured fallback intrinsics, which
the result names so that /diagnostics can warn about them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from nav_msgs.msg import OccupancyGrid
from rclpy.lifecycle import LifecycleNode
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, Image, LaserScan
from std_msgs.msg import Header

from ..drivable import DrivableArea, DrivableConfig, Intrinsics
from .drivable_messages import intrinsics_from_camera_info, to_laser_scan, to_mask_image, to_occupancy_grid


@dataclass(frozen=True)
class IntrinsicsChoice:
    intrinsics: Intrinsics | None  # None = the configured fallback
    description: str
    fallback: bool


def fallback_description(config: DrivableConfig) -> str:
    """The fallback intrinsics in words (diagnostics): values and the parameters that set them."""
    return (
        f"fallback intrinsics fx={config.default_fx:g} fy={config.default_fy:g} cx={config.default_cx:g} "
        f"cy={config.default_cy:g} at {config.default_width}x{config.default_height} from drivable.default_*"
    )


def choose_intrinsics(camera_info: CameraInfo | None, rectified: bool, config: DrivableConfig) -> IntrinsicsChoice:
    """camera_info's K (or P with ``rectified``), or the configured fallback, and what was chosen in words."""
    matrix = "P" if rectified else "K"
    if camera_info is None:
        return IntrinsicsChoice(None, f"{fallback_description(config)}, no camera_info", True)
    intrinsics = intrinsics_from_camera_info(camera_info, rectified)
    if intrinsics is None:
        return IntrinsicsChoice(None, f"{fallback_description(config)}, camera_info {matrix} is empty", True)
    return IntrinsicsChoice(intrinsics, f"camera_info {matrix}", False)


@dataclass(frozen=True)
class DrivableWanted:
    mask: bool = False
    grid: bool = False
    scan: bool = False

    def any(self) -> bool:
        return self.mask or self.grid or self.scan


class DrivableOutputs:
    """The drivable-area module and its three lifecycle publishers."""

    def __init__(self, node: LifecycleNode, qos: QoSProfile, config: DrivableConfig) -> None:
        self._node = node
        self.area = DrivableArea(config)
        self.mask = node.create_lifecycle_publisher(Image, "~/out/drivable_mask", qos)
        self.grid = node.create_lifecycle_publisher(OccupancyGrid, "~/out/drivable_grid", qos)
        self.scan = node.create_lifecycle_publisher(LaserScan, "~/out/freespace_scan", qos)

    def destroy(self) -> None:
        for publisher in (self.mask, self.grid, self.scan):
            self._node.destroy_lifecycle_publisher(publisher)

    def wanted(self) -> DrivableWanted:
        return DrivableWanted(
            mask=self.mask.get_subscription_count() > 0,
            grid=self.grid.get_subscription_count() > 0,
            scan=self.scan.get_subscription_count() > 0,
        )

    def publish(
        self,
        wanted: DrivableWanted,
        header: Header,
        labels: np.ndarray,
        camera_info: CameraInfo | None,  # as received: binning/ROI are undone by the drivable module
        config: DrivableConfig,
        rectified: bool = False,
    ) -> IntrinsicsChoice:
        """Compute and publish the wanted outputs; which intrinsics the grid and scan used."""
        if self.area.config is not config:
            self.area.set_config(config)
        intrinsics = choose_intrinsics(camera_info, rectified, config)
        result = self.area.process(labels, intrinsics.intrinsics, wanted.grid, wanted.scan)
        if wanted.mask:
            self.mask.publish(to_mask_image(result.mask, header))
        if wanted.grid and result.grid is not None:
            self.grid.publish(to_occupancy_grid(result.grid, header, config.ground_frame))
        if wanted.scan and result.scan is not None:
            self.scan.publish(to_laser_scan(result.scan, header, config.scan_frame_id))
        return intrinsics
