"""Free-space scan: ranges on hand-made grids, REP-117 special values, and the pipeline's scan."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stdc_ros.bench.drivable import synthetic_labels
from stdc_ros.drivable import FREE, OCCUPIED, UNKNOWN, DrivableArea, DrivableConfig, OccupancyGridData, scan_from_grid

RES = 0.1


def make_grid(fill: int = FREE, x_min: float = 0.0, x_max: float = 30.0, half_width: float = 15.0) -> OccupancyGridData:
    width, height = round((x_max - x_min) / RES), round(2 * half_width / RES)
    data = np.full((height, width), fill, dtype=np.int8)
    return OccupancyGridData(data, RES, width, height, x_min, -half_width)


def paint(grid: OccupancyGridData, value: int, x0: float, x1: float, y0: float, y1: float) -> None:
    """Set the cells whose centres lie in [x0, x1) x [y0, y1)."""
    x, y = grid.cell_centres()
    grid.data[(x >= x0) & (x < x1) & (y >= y0) & (y < y1)] = value


def test_wall_ahead_gives_its_distance_on_every_bearing() -> None:
    grid = make_grid()
    paint(grid, OCCUPIED, 10.0, 10.2, -15.0, 15.0)
    scan = scan_from_grid(grid, fov=math.radians(60), beams=61, range_max=25.0)
    expected = 10.0 / np.cos(scan.angles)
    assert np.all(np.abs(scan.ranges - expected) <= RES)  # samples every cell, reported midway: < 1 cell


def test_fields_follow_laser_scan_conventions() -> None:
    scan = scan_from_grid(make_grid(), centre=0.2, fov=1.0, beams=11, range_max=12.0)
    assert scan.ranges.dtype == np.float32 and scan.ranges.shape == (11,)
    assert scan.angle_min == pytest.approx(-0.3) and scan.angle_max == pytest.approx(0.7)
    assert scan.angle_increment == pytest.approx(0.1)
    assert scan.angle_min + 10 * scan.angle_increment == pytest.approx(scan.angle_max)
    assert scan.range_min == 0.0 and scan.range_max == 12.0


def test_all_free_to_range_max_is_plus_infinity() -> None:
    scan = scan_from_grid(make_grid(), fov=1.2, beams=25, range_max=12.0)
    assert np.all(np.isposinf(scan.ranges))


def test_unknown_near_the_vehicle_is_skipped() -> None:
    grid = make_grid()
    paint(grid, UNKNOWN, 0.0, 3.0, -15.0, 15.0)  # below the image: not seen
    paint(grid, OCCUPIED, 7.0, 8.0, -1.0, 1.0)
    scan = scan_from_grid(grid, fov=0.02, beams=3, range_max=20.0)
    np.testing.assert_allclose(scan.ranges, 7.0, atol=RES)


def test_leaving_the_seen_area_before_range_max_is_nan() -> None:
    grid = make_grid(fill=UNKNOWN)
    paint(grid, FREE, 3.0, 9.0, -15.0, 15.0)  # seen and free up to 9 m, nothing seen beyond
    scan = scan_from_grid(grid, fov=0.5, beams=5, range_max=20.0)
    assert np.all(np.isnan(scan.ranges))
    paint(grid, OCCUPIED, 6.0, 6.5, 0.5, 15.0)  # an obstacle inside the seen part still counts
    scan = scan_from_grid(grid, fov=0.5, beams=5, range_max=20.0)
    assert np.all(np.isnan(scan.ranges[:3]))
    assert np.all(np.isfinite(scan.ranges[3:]))


def test_nothing_seen_is_nan() -> None:
    scan = scan_from_grid(make_grid(fill=UNKNOWN), beams=9)
    assert np.all(np.isnan(scan.ranges))


def test_outside_the_grid_counts_as_unseen() -> None:
    grid = make_grid(x_max=10.0)
    scan = scan_from_grid(grid, fov=0.2, beams=3, range_max=20.0)
    assert np.all(np.isnan(scan.ranges)), "free to the grid edge at 10 m says nothing about 10..20 m"
    scan = scan_from_grid(grid, fov=0.2, beams=3, range_max=9.0)
    assert np.all(np.isposinf(scan.ranges))


def test_obstacle_right_at_the_start() -> None:
    grid = make_grid(fill=OCCUPIED)
    scan = scan_from_grid(grid, fov=0.2, beams=3, range_max=10.0)
    np.testing.assert_allclose(scan.ranges, RES / 2)


def test_bearings_are_counter_clockwise_from_x() -> None:
    grid = make_grid(x_min=-15.0, x_max=15.0)
    paint(grid, OCCUPIED, -15.0, 15.0, 4.0, 4.1)  # a wall 4 m to the left
    scan = scan_from_grid(grid, fov=2 * math.pi - 0.01, beams=629, range_max=10.0)
    left = np.argmin(np.abs(scan.angles - math.pi / 2))
    right = np.argmin(np.abs(scan.angles + math.pi / 2))
    assert scan.ranges[left] == pytest.approx(4.0, abs=RES)
    assert np.isposinf(scan.ranges[right])


def test_origin_offset() -> None:
    grid = make_grid()
    paint(grid, OCCUPIED, 10.0, 10.2, -15.0, 15.0)
    scan = scan_from_grid(grid, origin=(2.0, 1.0), fov=0.02, beams=3, range_max=20.0)
    np.testing.assert_allclose(scan.ranges, 8.0, atol=RES)
    x, y = scan.endpoints()
    np.testing.assert_allclose(x, 10.0, atol=RES)
    np.testing.assert_allclose(y, 1.0, atol=0.1)


# ---------------------------------------------------------------- the pipeline's scan (ray samples read the image)
def test_pipeline_scan_finds_the_car_and_agrees_with_its_grid() -> None:
    config = DrivableConfig(morph_kernel=0, ego_connected=False, grid_y_min=-20.0, grid_y_max=20.0)
    labels = synthetic_labels(config)  # road |y| < 3.5 m, car footprint x 14..18, y 0.5..2.3
    result = DrivableArea(config).process(labels, None)
    scan, grid = result.scan, result.grid
    assert scan is not None and grid is not None
    assert scan.angle_min == pytest.approx(-config.scan_fov / 2) and scan.ranges.size == config.scan_beams

    car = np.argmin(np.abs(scan.angles - math.atan2(1.4, 14.0)))
    assert scan.ranges[car] == pytest.approx(14.0 / math.cos(scan.angles[car]), abs=0.5)
    straight = np.argmin(np.abs(scan.angles))  # along the road centre, past the car's right side
    assert scan.ranges[straight] > 30.0 or np.isposinf(scan.ranges[straight])
    assert np.all(np.isnan(scan.ranges[np.abs(scan.angles) > 0.6])), "bearings outside the 58 degree view"

    from_grid = scan_from_grid(grid, config.scan_origin, 0.0, config.scan_fov, config.scan_beams, config.max_range)
    both = np.isfinite(scan.ranges) & np.isfinite(from_grid.ranges)
    assert np.count_nonzero(both) > 20
    # the grid samples cell centres, the scan samples the rays themselves: a pixel footprint apart at most
    assert np.all(np.abs(scan.ranges[both] - from_grid.ranges[both]) <= 0.05 * scan.ranges[both] + 2 * RES)


def test_scan_origin_and_frame() -> None:
    in_ground = DrivableConfig(camera_x=1.5, camera_y=0.3)
    assert in_ground.scan_frame_id == "base_footprint" and in_ground.scan_origin == (0.0, 0.0)
    own = DrivableConfig(camera_x=1.5, camera_y=0.3, scan_frame="camera_ground")
    assert own.scan_frame_id == "camera_ground" and own.scan_origin == (1.5, 0.3)

    base = DrivableConfig(morph_kernel=0, ego_connected=False)
    labels = synthetic_labels(base)
    ranges = {}
    for frame in ("", "camera_ground"):
        config = base.replace(camera_x=2.0, scan_frame=frame)
        scan = DrivableArea(config).process(labels, None).scan
        assert scan is not None
        ranges[frame] = scan.ranges
        assert (scan.origin_x, scan.origin_y) == config.scan_origin
    car = 90 + 5  # 2.5 degrees left of straight ahead: through the car
    assert ranges[""][car] - ranges["camera_ground"][car] == pytest.approx(2.0, abs=0.3)
