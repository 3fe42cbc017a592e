"""Inverse perspective mapping against an independent flat-ground camera written here (Rodrigues rotations)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stdc_ros.drivable import FREE, OCCUPIED, UNKNOWN, DrivableArea, DrivableConfig, Intrinsics
from stdc_ros.drivable.geometry import GroundCamera
from stdc_ros.drivable.grid import build_grid_lookup

# A high-resolution camera (same 58 degree field of view as the CamVid fallback) so that out to ~12 m one pixel
# covers less than a 0.1 m cell along the range: then "within one cell" is a fair tolerance.
HI_RES = Intrinsics(1728.0, 1728.0, 959.5, 719.5, 1920, 1440)
RES = 0.1


# ---------------------------------------------------------------- the test's own camera model
def _rotate(v: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues: v rotated by ``angle`` about unit ``axis`` (right-hand rule)."""
    return v * math.cos(angle) + np.cross(axis, v) * math.sin(angle) + axis * np.dot(axis, v) * (1 - math.cos(angle))


def camera_axes(pitch: float, roll: float, yaw: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward, left, up unit vectors of the camera in the ground frame: yaw about ground z, then pitch about the
    camera's (new) left axis (forward tips down), then roll about its (new) forward axis (left side up)."""
    f, left, up = np.eye(3)
    f, left, up = (_rotate(v, np.array([0.0, 0.0, 1.0]), yaw) for v in (f, left, up))
    f, up = _rotate(f, left, pitch), _rotate(up, left, pitch)
    left, up = _rotate(left, f, roll), _rotate(up, f, roll)
    return f, left, up


def forward_project(points: np.ndarray, pose: dict[str, float], k: Intrinsics) -> np.ndarray:
    """(N, 2) ground points (z = 0) to (N, 2) pixel coordinates; asserts they are in front of the camera."""
    f, left, up = camera_axes(pose.get("camera_pitch", 0.0), pose.get("camera_roll", 0.0), pose.get("camera_yaw", 0.0))
    centre = np.array([pose.get("camera_x", 0.0), pose.get("camera_y", 0.0), pose.get("camera_height", 1.2)])
    d = np.column_stack([points, np.zeros(len(points))]) - centre
    depth, right, down = d @ f, -(d @ left), -(d @ up)
    assert np.all(depth > 0), "polygon vertex behind the camera"
    return np.column_stack([k.fx * right / depth + k.cx, k.fy * down / depth + k.cy])


def pixel_ray_z(pose: dict[str, float], k: Intrinsics) -> np.ndarray:
    """Ground-frame z of the ray through every pixel centre (HxW); < 0 means the ray reaches the ground."""
    f, left, up = camera_axes(pose.get("camera_pitch", 0.0), pose.get("camera_roll", 0.0), pose.get("camera_yaw", 0.0))
    v, u = np.mgrid[0 : k.height, 0 : k.width].astype(np.float64)
    a, b = (u - k.cx) / k.fx, (v - k.cy) / k.fy
    return f[2] - a * left[2] - b * up[2]


def rasterise_convex(vertices: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 HxW: 1 where the pixel centre is inside the convex polygon (either winding)."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    crosses = []
    for (x0, y0), (x1, y1) in zip(vertices, np.roll(vertices, -1, axis=0)):
        crosses.append((x1 - x0) * (v - y0) - (y1 - y0) * (u - x0))
    crosses = np.stack(crosses)
    inside = np.all(crosses >= 0, axis=0) | np.all(crosses <= 0, axis=0)
    return inside.astype(np.uint8)


def signed_distance(x: np.ndarray, y: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Distance of points to the polygon boundary, positive inside (convex polygon)."""
    best = np.full(x.shape, np.inf)
    for (x0, y0), (x1, y1) in zip(polygon, np.roll(polygon, -1, axis=0)):
        ex, ey = x1 - x0, y1 - y0
        t = np.clip(((x - x0) * ex + (y - y0) * ey) / (ex * ex + ey * ey), 0.0, 1.0)
        best = np.minimum(best, np.hypot(x - x0 - t * ex, y - y0 - t * ey))
    crosses = np.stack(
        [(x1 - x0) * (y - y0) - (y1 - y0) * (x - x0) for (x0, y0), (x1, y1) in zip(polygon, np.roll(polygon, -1, 0))]
    )
    inside = np.all(crosses >= 0, axis=0) | np.all(crosses <= 0, axis=0)
    return np.where(inside, best, -best)


def plain_config(**pose: float) -> DrivableConfig:
    """Class 1 drivable, no clean-up and no ego filtering: the geometry alone decides."""
    return DrivableConfig.from_mapping({"drivable_classes": [1], "morph_kernel": 0, "ego_connected": False, **pose})


def polygon_ahead(pose: dict[str, float]) -> np.ndarray:
    """A road quadrilateral 5..11 m ahead of the camera's ground point, along its heading, in the ground frame."""
    rel = np.array([[5.0, -1.5], [11.0, -2.5], [10.0, 2.0], [5.5, 1.5]])
    yaw = pose.get("camera_yaw", 0.0)
    rot = np.array([[math.cos(yaw), -math.sin(yaw)], [math.sin(yaw), math.cos(yaw)]])
    return rel @ rot.T + np.array([pose.get("camera_x", 0.0), pose.get("camera_y", 0.0)])


POSES = {
    "level": {},
    "pitch_down": {"camera_pitch": 0.15},
    "pitch_up": {"camera_pitch": -0.05},
    "roll": {"camera_roll": 0.1},
    "roll_negative": {"camera_roll": -0.12},
    "yaw_left": {"camera_yaw": 0.3},
    "yaw_right": {"camera_yaw": -0.5},
    "offset_x": {"camera_x": 1.5},
    "offset_y": {"camera_y": -0.8},
    "height": {"camera_height": 2.0},
    "combined": {
        "camera_pitch": 0.08,
        "camera_roll": -0.05,
        "camera_yaw": 0.2,
        "camera_x": 1.2,
        "camera_y": 0.6,
        "camera_height": 1.6,
    },
}


# ---------------------------------------------------------------- the polygon comes back within one cell
@pytest.mark.parametrize("name", list(POSES))
def test_polygon_in_grid_within_one_cell(name: str) -> None:
    pose = POSES[name]
    polygon = polygon_ahead(pose)
    corners = forward_project(polygon, pose, HI_RES)
    assert np.all((corners >= 0) & (corners < [HI_RES.width, HI_RES.height])), "polygon must be fully in view"
    labels = rasterise_convex(corners, HI_RES.height, HI_RES.width)

    grid = DrivableArea(plain_config(**pose)).process(labels, HI_RES, want_scan=False).grid
    assert grid is not None and grid.resolution == RES
    x, y = grid.cell_centres()
    dist = signed_distance(x, y, polygon)
    deep_inside, far_outside = dist > RES, dist < -RES

    assert np.all(grid.data[deep_inside] == FREE), "every cell more than one cell inside must be free"
    assert not np.any(grid.data[far_outside] == FREE), "no cell more than one cell outside may be free"
    # outside cells that the camera sees are occupied (non-drivable seen), the rest unknown
    assert set(np.unique(grid.data[far_outside])) <= {OCCUPIED, UNKNOWN}
    assert np.count_nonzero(grid.data[far_outside] == OCCUPIED) > 1000
    # the free area matches the polygon's area to within the one-cell band along its perimeter
    area = 0.5 * abs(
        np.dot(polygon[:, 0], np.roll(polygon[:, 1], 1)) - np.dot(polygon[:, 1], np.roll(polygon[:, 0], 1))
    )
    perimeter = np.sum(np.hypot(*(polygon - np.roll(polygon, 1, axis=0)).T))
    free_area = np.count_nonzero(grid.data == FREE) * RES * RES
    assert abs(free_area - area) < perimeter * RES


# ---------------------------------------------------------------- each mounting value moves the result as it should
def test_offsets_translate_the_grid() -> None:
    """Same image, camera moved by (+2 m, +1 m): the grid content moves by exactly (20, 10) cells."""
    pose = {"camera_pitch": 0.05}
    labels = rasterise_convex(forward_project(polygon_ahead(pose), pose, HI_RES), HI_RES.height, HI_RES.width)
    base = DrivableArea(plain_config(**pose)).process(labels, HI_RES, want_scan=False).grid
    moved = DrivableArea(plain_config(**pose, camera_x=2.0, camera_y=1.0)).process(labels, HI_RES, want_scan=False).grid
    assert base is not None and moved is not None
    expected = base.data[:-10, :-20]
    mismatch = np.count_nonzero(moved.data[10:, 20:] != expected)
    assert mismatch <= expected.size * 1e-4
    assert np.count_nonzero(moved.data == FREE) == np.count_nonzero(base.data == FREE)


def test_yaw_rotates_the_grid_about_the_camera() -> None:
    pose = {"camera_x": 1.0, "camera_y": -0.5}
    labels = rasterise_convex(forward_project(polygon_ahead(pose), pose, HI_RES), HI_RES.height, HI_RES.width)
    centroids = []
    for yaw in (0.0, 0.35):
        grid = DrivableArea(plain_config(**pose, camera_yaw=yaw)).process(labels, HI_RES, want_scan=False).grid
        assert grid is not None
        x, y = grid.cell_centres()
        free = grid.data == FREE
        centroids.append(np.array([x[free].mean() - 1.0, y[free].mean() + 0.5]))
    c, s = math.cos(0.35), math.sin(0.35)
    rotated = np.array([[c, -s], [s, c]]) @ centroids[0]
    assert np.linalg.norm(rotated - centroids[1]) < RES
    assert centroids[1][1] > centroids[0][1] + 2.0, "positive yaw turns the view to the left (+y)"


@pytest.mark.parametrize("pitch", [-0.05, 0.0, 0.1, 0.2])
def test_pitch_moves_the_far_edge_as_the_flat_ground_formula_says(pitch: float) -> None:
    """Drivable rows from v0 down: along y = 0 the free region ends at h / tan(pitch + atan((v0 - 0.5 - cy) / fy))."""
    v0, height = 900, 1.5
    labels = np.zeros((HI_RES.height, HI_RES.width), dtype=np.uint8)
    labels[v0:] = 1
    config = plain_config(camera_pitch=pitch, camera_height=height, grid_y_min=-2.0, grid_y_max=2.0)
    grid = DrivableArea(config).process(labels, HI_RES, want_scan=False).grid
    assert grid is not None
    row = grid.data[grid.height // 2]  # the cells straddling y = 0
    free = np.flatnonzero(row == FREE)
    far_edge = (free.max() + 1) * RES
    expected = height / math.tan(pitch + math.atan((v0 - 0.5 - HI_RES.cy) / HI_RES.fy))
    assert abs(far_edge - expected) <= RES
    assert np.all(row[free.max() + 1 :][row[free.max() + 1 :] != UNKNOWN] == OCCUPIED)


def test_sign_conventions_of_the_module_camera() -> None:
    k = Intrinsics.from_config(DrivableConfig())
    ahead = (np.array([10.0]), np.array([0.0]))
    # yaw left: a point straight ahead of the vehicle appears right of the image centre
    u, _, _ = GroundCamera.from_config(DrivableConfig(camera_yaw=0.2), k).project(*ahead)
    assert u[0] > k.cx + 50
    # camera left of the vehicle axis: points on its own line stay centred
    u, _, _ = GroundCamera.from_config(DrivableConfig(camera_y=1.0), k).project(np.array([10.0]), np.array([1.0]))
    assert u[0] == pytest.approx(k.cx)
    # pitch down: the horizon rises above the principal point by fy * tan(pitch)
    cam = GroundCamera.from_config(DrivableConfig(camera_pitch=0.1), k)
    assert cam.horizon_row(np.array([k.cx]))[0] == pytest.approx(k.cy - k.fy * math.tan(0.1))
    # roll positive (left side up): the horizon is higher (smaller row) on the right
    cam = GroundCamera.from_config(DrivableConfig(camera_roll=0.1), k)
    left, right = cam.horizon_row(np.array([0.0, k.width - 1.0]))
    assert right < left
    assert right == pytest.approx(k.cy - math.tan(0.1) * (k.width - 1.0 - k.cx))


def test_module_projection_matches_independent_projection() -> None:
    pose = POSES["combined"]
    k = Intrinsics.from_config(DrivableConfig())
    points = np.array([[6.0, 0.0], [12.0, 3.0], [20.0, -4.0], [4.0, 1.0]])
    u, v, valid = GroundCamera.from_config(DrivableConfig.from_mapping(pose), k).project(points[:, 0], points[:, 1])
    assert valid.all()
    np.testing.assert_allclose(np.column_stack([u, v]), forward_project(points, pose, k), atol=1e-9)


# ---------------------------------------------------------------- the horizon
HORIZON_POSES = [
    {},
    {"camera_pitch": 0.1},
    {"camera_pitch": -0.1, "camera_roll": 0.2},
    {"camera_roll": -0.3, "camera_yaw": 0.4, "camera_x": 2.0},
]
WIDE = {"max_range": 1000.0, "grid_resolution": 0.5, "grid_x_min": -100.0, "grid_x_max": 400.0}
WIDE |= {"grid_y_min": -200.0, "grid_y_max": 200.0}


@pytest.mark.parametrize("pose", HORIZON_POSES)
def test_pixels_at_or_above_the_horizon_never_become_cells(pose: dict[str, float]) -> None:
    config = plain_config(**pose, **WIDE)
    k = Intrinsics.from_config(config)
    above = pixel_ray_z(pose, k) >= 0.0
    assert 0 < np.count_nonzero(above) < above.size

    sky_drivable = DrivableArea(config).process(above.astype(np.uint8), None)
    assert sky_drivable.grid is not None and sky_drivable.scan is not None
    assert np.count_nonzero(sky_drivable.grid.data == FREE) == 0
    assert np.count_nonzero(sky_drivable.grid.data == OCCUPIED) > 10_000
    assert not np.any(np.isposinf(sky_drivable.scan.ranges)), "no ray may see free ground through the sky"

    ground_drivable = DrivableArea(config).process((~above).astype(np.uint8), None).grid
    assert ground_drivable is not None
    assert np.count_nonzero(ground_drivable.data == OCCUPIED) == 0

    # and directly on the lookup: every pixel a cell reads from has a ray that descends
    lookup = build_grid_lookup(config, GroundCamera.from_config(config, k))
    used = lookup.cell_pixel[lookup.cell_pixel != lookup.unseen]
    assert np.all(pixel_ray_z(pose, k).ravel()[used] < 0.0)


def test_camera_looking_above_the_ground_sees_no_cells() -> None:
    config = plain_config(camera_pitch=-0.6)  # bottom image ray is ~12 degrees above the horizon
    result = DrivableArea(config).process(np.ones((360, 480), dtype=np.uint8), None)
    assert result.grid is not None and result.scan is not None
    assert np.all(result.grid.data == UNKNOWN)
    assert np.all(np.isnan(result.scan.ranges))


def test_range_limit_and_cells_behind_the_camera_are_unknown() -> None:
    config = plain_config(max_range=15.0, grid_x_min=-5.0, camera_x=1.0)
    grid = DrivableArea(config).process(np.ones((360, 480), dtype=np.uint8), None).grid
    assert grid is not None
    x, y = grid.cell_centres()
    distance = np.hypot(x - 1.0, y)
    assert np.all(grid.data[distance > 15.0] == UNKNOWN)
    assert np.all(grid.data[x < 1.0] == UNKNOWN)
    assert np.count_nonzero(grid.data[distance < 14.0] == FREE) > 1000
    # the nearest ground the bottom row sees: h / tan(atan((359 - cy) / fy)) ahead of the camera
    near = 1.2 * 432.0 / (359.0 - 179.5)
    seen = x[grid.data == FREE] - 1.0
    assert abs(seen.min() - near) < 2 * config.grid_resolution
