"""Wires the drivable module into the node: ~/out/drivable_mask, ~/out/drivable_grid, ~/out/freespace_scan.

Each output is computed only while its topic has subscribers; the messages come from drivable_messages.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from nav_msgs.msg import OccupancyGrid
from rclpy.lifecycle import LifecycleNode
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, Image, LaserScan
from std_msgs.msg import Header

from ..drivable import DrivableArea, DrivableConfig
from .drivable_messages import intrinsics_from_camera_info, to_laser_scan, to_mask_image, to_occupancy_grid


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
    ) -> None:
        if self.area.config is not config:
            self.area.set_config(config)
        intrinsics = intrinsics_from_camera_info(camera_info) if camera_info is not None else None
        result = self.area.process(labels, intrinsics, wanted.grid, wanted.scan)
        if wanted.mask:
            self.mask.publish(to_mask_image(result.mask, header))
        if wanted.grid and result.grid is not None:
            self.grid.publish(to_occupancy_grid(result.grid, header, config.ground_frame))
        if wanted.scan and result.scan is not None:
            self.scan.publish(to_laser_scan(result.scan, header, config.scan_frame_id))
