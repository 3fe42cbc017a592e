"""ROS message conversion of the drivable outputs (message classes only: no rclpy.init, no DDS)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ..ros_required import ros_tests_enabled

# missing ROS messages fail the run; only STDC_ROS_SKIP_ROS_TESTS=1 skips this module (see ros_required.py)
if not ros_tests_enabled(__name__, "nav_msgs.msg"):
    pytest.skip("ROS 2 messages not importable", allow_module_level=True)

from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from stdc_ros.bench.drivable import synthetic_labels
from stdc_ros.drivable import DrivableArea, DrivableConfig, Intrinsics, OccupancyGridData, ScanData
from stdc_ros.node.drivable_messages import (
    intrinsics_from_camera_info,
    scan_frame_transform,
    to_laser_scan,
    to_mask_image,
    to_occupancy_grid,
)


@pytest.fixture
def header() -> Header:
    return Header(stamp=Time(sec=1_700_000_123, nanosec=456_000_789), frame_id="camera_optical_frame")


@pytest.fixture(scope="module")
def result():
    config = DrivableConfig()
    return DrivableArea(config).process(synthetic_labels(config), None)


def test_occupancy_grid(result, header: Header) -> None:
    grid = result.grid
    msg = to_occupancy_grid(grid, header, "base_footprint")
    assert msg.header.frame_id == "base_footprint"
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (1_700_000_123, 456_000_789)
    assert msg.header.stamp is not header.stamp
    assert msg.info.map_load_time == header.stamp
    assert (msg.info.width, msg.info.height) == (400, 200)
    assert msg.info.resolution == pytest.approx(0.1)
    assert (msg.info.origin.position.x, msg.info.origin.position.y) == (0.0, -10.0)
    assert msg.info.origin.orientation.w == 1.0
    data = np.asarray(msg.data, dtype=np.int8)
    assert data.size == 400 * 200
    assert set(np.unique(data)) == {-1, 0, 100}
    np.testing.assert_array_equal(data.reshape(200, 400), grid.data)  # row-major, rows along y


def test_occupancy_grid_cell_order() -> None:
    data = np.full((3, 4), -1, dtype=np.int8)
    data[2, 1] = 100  # row 2 = third y cell, column 1 = second x cell
    grid = OccupancyGridData(data, 0.5, 4, 3, -1.0, -0.75)
    msg = to_occupancy_grid(grid, Header(), "map")
    index = list(msg.data).index(100)
    i, j = divmod(index, msg.info.width)
    centre = (msg.info.origin.position.x + (j + 0.5) * 0.5, msg.info.origin.position.y + (i + 0.5) * 0.5)
    assert centre == (-0.25, 0.5)
    assert grid.cell_of(*centre) == (2, 1)


def test_laser_scan(result, header: Header) -> None:
    scan = result.scan
    msg = to_laser_scan(scan, header, "base_footprint")
    assert msg.header.frame_id == "base_footprint" and msg.header.stamp == header.stamp
    assert msg.angle_min == pytest.approx(-0.7854, abs=1e-6) and msg.angle_max == pytest.approx(0.7854, abs=1e-6)
    assert msg.angle_increment == pytest.approx(1.5708 / 180, rel=1e-6)
    assert len(msg.ranges) == 181
    assert msg.range_min == 0.0 and msg.range_max == 40.0
    assert msg.time_increment == 0.0 and msg.scan_time == 0.0
    ranges = np.asarray(msg.ranges, dtype=np.float32)
    np.testing.assert_array_equal(ranges, scan.ranges)  # NaN and +inf survive (array_equal treats NaN == NaN)
    assert np.isnan(ranges).any() and np.isinf(ranges).any() and np.isfinite(ranges).any()
    finite = ranges[np.isfinite(ranges)]
    assert np.all((finite >= msg.range_min) & (finite <= msg.range_max))


def test_laser_scan_special_values_by_hand() -> None:
    scan = ScanData(-0.1, 0.1, 0.1, 0.0, 10.0, np.array([np.nan, np.inf, 3.25], dtype=np.float32))
    msg = to_laser_scan(scan, Header(), "scan")
    assert math.isnan(msg.ranges[0]) and math.isinf(msg.ranges[1]) and msg.ranges[2] == 3.25


def test_mask_image(result, header: Header) -> None:
    msg = to_mask_image(result.mask, header)
    assert msg.header.frame_id == "camera_optical_frame" and msg.header.stamp == header.stamp
    assert (msg.height, msg.width, msg.step) == (360, 480, 480)
    assert msg.encoding == "mono8" and msg.is_bigendian == 0
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(360, 480)
    np.testing.assert_array_equal(data, result.mask)
    assert set(np.unique(data)) == {0, 255}
    with pytest.raises(ValueError):
        to_mask_image(np.zeros((2, 2, 3), dtype=np.uint8), header)


def test_intrinsics_from_camera_info() -> None:
    info = CameraInfo(width=1920, height=1080)
    assert intrinsics_from_camera_info(info) is None  # uncalibrated: all zeros
    info.k = [1000.0, 0.0, 959.5, 0.0, 1000.0, 539.5, 0.0, 0.0, 1.0]
    info.p = [900.0, 0.0, 950.0, 0.0, 0.0, 900.0, 530.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert intrinsics_from_camera_info(info) == Intrinsics(1000.0, 1000.0, 959.5, 539.5, 1920, 1080)
    assert intrinsics_from_camera_info(info, rectified=True) == Intrinsics(900.0, 900.0, 950.0, 530.0, 1920, 1080)
    info.binning_x = info.binning_y = 2
    assert intrinsics_from_camera_info(info) == Intrinsics(500.0, 500.0, 479.5, 269.5, 960, 540)
    info.binning_x = info.binning_y = 0
    info.roi.x_offset, info.roi.y_offset, info.roi.width, info.roi.height = 160, 60, 1600, 960
    assert intrinsics_from_camera_info(info) == Intrinsics(1000.0, 1000.0, 799.5, 479.5, 1600, 960)


def test_scan_frame_transform() -> None:
    assert scan_frame_transform(DrivableConfig(camera_x=1.5)) is None  # the scan is in the ground frame itself
    config = DrivableConfig(camera_x=1.5, camera_y=-0.2, scan_frame="camera_ground")
    tf = scan_frame_transform(config, Time(sec=5))
    assert tf is not None
    assert (tf.header.frame_id, tf.child_frame_id, tf.header.stamp.sec) == ("base_footprint", "camera_ground", 5)
    t, q = tf.transform.translation, tf.transform.rotation
    assert (t.x, t.y, t.z) == (1.5, -0.2, 0.0) and (q.x, q.y, q.z, q.w) == (0.0, 0.0, 0.0, 1.0)
