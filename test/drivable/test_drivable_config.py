"""DrivableConfig validation and construction, Intrinsics, and the DrivableArea lookup cache and thread safety."""

from __future__ import annotations

import dataclasses
import math
import threading

import numpy as np
import pytest

from stdc_ros.bench.drivable import synthetic_labels
from stdc_ros.drivable import PARAMETER_RANGES, DrivableArea, DrivableConfig, Intrinsics
from stdc_ros.drivable.config import GEOMETRY_FIELDS
from stdc_ros.drivable.geometry import GroundCamera
from stdc_ros.drivable.intrinsics import scaled_camera_matrix


# ---------------------------------------------------------------- config
def test_defaults_are_valid_and_describe_the_issue_grid() -> None:
    config = DrivableConfig().validate()
    assert (config.grid_width, config.grid_height, config.grid_cells) == (400, 200, 80_000)
    assert config.drivable_classes == (3,)
    assert config.scan_frame_id == config.ground_frame == "base_footprint"


def test_every_numeric_field_has_a_range_holding_its_default() -> None:
    fields = {f.name: f for f in dataclasses.fields(DrivableConfig)}
    non_numeric = {"ego_connected", "ground_frame", "scan_frame"}
    assert set(PARAMETER_RANGES) == set(fields) - non_numeric
    config = DrivableConfig()
    for name, (low, high, text) in PARAMETER_RANGES.items():
        assert low < high and text
        values = getattr(config, name) if name == "drivable_classes" else [getattr(config, name)]
        assert all(low <= v <= high for v in values), name
        if isinstance(fields[name].default, int) and not isinstance(fields[name].default, bool):
            assert isinstance(low, int) and isinstance(high, int), f"{name}: integer field, integer range"


def test_grid_over_the_cell_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_cells"):
        DrivableConfig().replace(grid_resolution=0.02)  # 2000 x 1000 = 2M cells > 1M
    assert DrivableConfig().replace(grid_resolution=0.02, max_cells=2_000_000).grid_cells == 2_000_000
    with pytest.raises(ValueError, match="max_cells"):
        DrivableConfig().replace(max_cells=50_000)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"morph_kernel": 4}, "odd"),
        ({"morph_kernel": -1}, "outside"),
        ({"connectivity": 6}, "4 or 8"),
        ({"camera_pitch": 2.0}, "camera_pitch"),
        ({"camera_height": 0.0}, "camera_height"),
        ({"grid_x_min": 10.0, "grid_x_max": 5.0}, "grid_x_max"),
        ({"grid_y_min": 1.0, "grid_y_max": 1.05}, "grid_y_max"),
        ({"drivable_classes": []}, "empty"),
        ({"drivable_classes": [3, 300]}, "drivable_classes"),
        ({"seed_offset": 0.5, "seed_height": 0.6}, "seed region"),
        ({"ground_frame": "/base_link"}, "frame id"),
        ({"ground_frame": ""}, "ground_frame"),
        ({"scan_frame": "my scan"}, "frame id"),
        ({"scan_beams": 1}, "scan_beams"),
        ({"camera_yaw": math.nan}, "finite"),
        ({"max_range": 100.0, "grid_resolution": 0.001}, "grid_resolution"),
    ],
)
def test_invalid_values_are_refused_with_a_reason(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        DrivableConfig().replace(**changes)


def test_replace_and_from_mapping_coerce_ros_parameter_values() -> None:
    config = DrivableConfig.from_mapping({"camera_pitch": 0, "drivable_classes": [0, 9], "scan_beams": 91.0})
    assert config.camera_pitch == 0.0 and isinstance(config.camera_pitch, float)
    assert config.drivable_classes == (0, 9)
    assert config.scan_beams == 91 and isinstance(config.scan_beams, int)
    with pytest.raises(ValueError, match="scan_beams"):
        DrivableConfig.from_mapping({"scan_beams": 90.5})
    with pytest.raises(ValueError, match="ego_connected"):
        DrivableConfig.from_mapping({"ego_connected": 1})
    with pytest.raises(ValueError, match="camera_height"):
        DrivableConfig.from_mapping({"camera_height": True})
    with pytest.raises(ValueError, match="unknown drivable parameter"):
        DrivableConfig.from_mapping({"camera_heigth": 1.0})


def test_replace_is_atomic_and_leaves_the_original_alone() -> None:
    original = DrivableConfig()
    with pytest.raises(ValueError):
        original.replace(grid_x_max=80.0, grid_resolution=0.03)  # valid one by one, 1.8M cells together
    assert original.replace(grid_resolution=0.03).grid_cells < original.max_cells
    changed = original.replace(grid_x_max=80.0, grid_resolution=0.2)
    assert (changed.grid_width, changed.grid_height) == (400, 100)
    assert original.grid_x_max == 40.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        original.camera_height = 2.0  # type: ignore[misc]


def test_mapping_round_trip() -> None:
    config = DrivableConfig(drivable_classes=(0, 9), camera_yaw=0.1, scan_frame="scan")
    mapping = config.to_mapping()
    assert mapping["drivable_classes"] == [0, 9]
    assert DrivableConfig.from_mapping(mapping) == config


def test_geometry_fields_are_the_declared_ones_and_key_the_lookups() -> None:
    """GEOMETRY_FIELDS comes from the fields' declarations (geometry=True): the camera mounting, the grid extent,
    the scan and the fallback intrinsics, nothing about the mask or the frame of the grid."""
    assert set(GEOMETRY_FIELDS) == {
        "camera_height", "camera_pitch", "camera_roll", "camera_yaw", "camera_x", "camera_y", "grid_resolution",
        "grid_x_min", "grid_x_max", "grid_y_min", "grid_y_max", "max_range", "scan_fov", "scan_beams", "scan_frame",
        "default_fx", "default_fy", "default_cx", "default_cy", "default_width", "default_height",
    }  # fmt: skip
    base = DrivableConfig()
    for name in GEOMETRY_FIELDS:  # every one of them reaches the key
        value = getattr(base, name)
        changed = base.replace(**{name: "scan" if isinstance(value, str) else value + 1 if value < 5 else value - 1})
        assert changed.geometry_key() != base.geometry_key(), name
    per_frame = base.replace(morph_kernel=3, connectivity=8, max_cells=2_000_000, ground_frame="odom")
    assert per_frame.geometry_key() == base.geometry_key()


# ---------------------------------------------------------------- intrinsics
def test_intrinsics_from_k_and_p() -> None:
    k = Intrinsics.from_k([500.0, 0.0, 320.0, 0.0, 510.0, 240.0, 0.0, 0.0, 1.0], 640, 480)
    assert (k.fx, k.fy, k.cx, k.cy, k.width, k.height) == (500.0, 510.0, 320.0, 240.0, 640, 480)
    p = Intrinsics.from_k([400.0, 0.0, 300.0, 0.0, 0.0, 410.0, 200.0, 0.0, 0.0, 0.0, 1.0, 0.0], 640, 480)
    assert (p.fx, p.fy, p.cx, p.cy) == (400.0, 410.0, 300.0, 200.0)
    with pytest.raises(ValueError, match="positive"):
        Intrinsics.from_k([0.0] * 9, 640, 480)
    with pytest.raises(ValueError, match="9"):
        Intrinsics.from_k([1.0] * 4, 640, 480)


def test_scaling_keeps_pixel_centres_consistent_with_a_resize() -> None:
    full = Intrinsics(1000.0, 1000.0, 959.5, 539.5, 1920, 1080)
    quarter = full.scaled_to(480, 270)
    assert (quarter.fx, quarter.fy) == (250.0, 250.0)
    assert (quarter.cx, quarter.cy) == (239.5, 134.5)  # image centre stays the image centre
    assert full.scaled_to(1920, 1080) is full
    # a ground point lands at u' = (u + 0.5) * s - 0.5 in the smaller image
    config = DrivableConfig(camera_pitch=0.05)
    x, y = np.array([8.0, 15.0]), np.array([1.0, -2.0])
    u, v, _ = GroundCamera.from_config(config, full).project(x, y)
    us, vs, _ = GroundCamera.from_config(config, quarter).project(x, y)
    np.testing.assert_allclose(us, (u + 0.5) * 0.25 - 0.5)
    np.testing.assert_allclose(vs, (v + 0.5) * 0.25 - 0.5)


def test_one_scaling_for_intrinsics_and_camera_info_matrices() -> None:
    """scaled_camera_matrix (camera_info K/P) and Intrinsics.scaled_to are the same resize; the matrices
    round-trip; distortion travels with the camera; the default fallback is the documented CamVid camera."""
    camera = Intrinsics(1000.0, 990.0, 959.5, 539.5, 1920, 1080, "plumb_bob", (0.1, -0.05, 0.0, 0.0, 0.0))
    small = camera.scaled_to(640, 360)
    assert small.distortion == camera.distortion
    assert Intrinsics.from_k(camera.k(), 1920, 1080) == Intrinsics.from_k(camera.p(), 1920, 1080)
    scaled_k = scaled_camera_matrix(camera.k(), 1 / 3, 1 / 3)
    assert Intrinsics.from_k(scaled_k, 640, 360) == dataclasses.replace(small, distortion=(0.0,) * 5)
    p = [1000.0, 2.0, 959.5, -100.0, 0.0, 990.0, 539.5, 5.0, 0.0, 0.0, 1.0, 0.0]  # skew and a stereo baseline
    assert scaled_camera_matrix(p, 0.5, 0.25) == [500.0, 1.0, 479.5, -50.0, 0.0, 247.5, 134.5, 1.25, 0, 0, 1, 0]
    with pytest.raises(ValueError, match="9"):
        scaled_camera_matrix([1.0] * 4, 0.5, 0.5)
    camvid = Intrinsics.from_config(DrivableConfig())
    assert (camvid.fx, camvid.cx, camvid.width, camvid.height) == (432.0, 239.5, 480, 360)
    assert 57 < camvid.horizontal_fov_deg < 59
    assert camvid.with_overrides(fx=500.0, cy=None) == dataclasses.replace(camvid, fx=500.0)


def test_pipeline_scales_camera_info_to_the_mask() -> None:
    config = DrivableConfig(morph_kernel=0, ego_connected=False)
    labels = synthetic_labels(config)
    fallback = DrivableArea(config).process(labels, None)
    calibrated_at_2x = Intrinsics(864.0, 864.0, 479.5, 359.5, 960, 720)  # the fallback camera, calibrated at 2x
    scaled = DrivableArea(config).process(labels, calibrated_at_2x)
    assert scaled.intrinsics == fallback.intrinsics == Intrinsics.from_config(config)
    assert fallback.grid is not None and scaled.grid is not None
    assert np.array_equal(fallback.grid.data, scaled.grid.data)


# ---------------------------------------------------------------- DrivableArea: cache, outputs on demand, threads
def test_lookups_are_rebuilt_only_when_geometry_changes() -> None:
    config = DrivableConfig()
    labels = synthetic_labels(config)
    area = DrivableArea(config)
    area.process(labels, None)
    assert area.lookup_builds == 2  # grid and scan
    area.process(labels, None)
    area.set_config(config.replace(morph_kernel=3, ego_connected=False, drivable_classes=[3, 4]))
    area.process(labels, None)
    assert area.lookup_builds == 2
    area.set_config(area.config.replace(camera_pitch=0.02))
    area.process(labels, None)
    assert area.lookup_builds == 4
    area.process(labels, Intrinsics(400.0, 400.0, 239.5, 179.5, 480, 360))  # new camera_info
    assert area.lookup_builds == 6
    area.process(labels[::2, ::2].copy(), Intrinsics(400.0, 400.0, 239.5, 179.5, 480, 360))  # new resolution
    assert area.lookup_builds == 8


def test_outputs_only_when_wanted() -> None:
    config = DrivableConfig()
    labels = synthetic_labels(config)
    area = DrivableArea(config)
    only_mask = area.process(labels, None, want_grid=False, want_scan=False)
    assert only_mask.grid is None and only_mask.scan is None and area.lookup_builds == 0
    assert only_mask.mask.shape == labels.shape and set(np.unique(only_mask.mask)) == {0, 255}
    only_scan = area.process(labels, None, want_grid=False, want_scan=True)
    assert only_scan.grid is None and only_scan.scan is not None and area.lookup_builds == 1
    assert set(only_scan.timing_ms) == {"mask", "lookup", "grid", "scan", "total"}


def test_set_config_from_another_thread_never_mixes_configs() -> None:
    a = DrivableConfig()
    b = a.replace(grid_x_max=30.0, scan_beams=91, morph_kernel=0)
    labels = synthetic_labels(a)
    area = DrivableArea(a)
    stop = threading.Event()

    def flip() -> None:
        while not stop.is_set():
            area.set_config(b)
            area.set_config(a)

    thread = threading.Thread(target=flip, daemon=True)
    thread.start()
    try:
        seen = set()
        for _ in range(40):
            result = area.process(labels, None)
            assert result.grid is not None and result.scan is not None
            seen.add((result.grid.width, result.scan.ranges.size))
    finally:
        stop.set()
        thread.join(timeout=10)
    assert seen <= {(400, 181), (300, 91)}


def test_invalid_config_is_refused_by_the_pipeline() -> None:
    bad = dataclasses.replace(DrivableConfig(), morph_kernel=4)  # dataclasses.replace skips validation
    with pytest.raises(ValueError, match="odd"):
        DrivableArea(bad)
    area = DrivableArea()
    with pytest.raises(ValueError, match="odd"):
        area.set_config(bad)
    assert area.config == DrivableConfig()
