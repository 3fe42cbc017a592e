"""Free-space scan: per bearing, the distance to the first non-drivable ground sample, as LaserScan fields.

Rays are sampled every ``step`` metres (the grid resolution) out to ``range_max``. Samples that are not seen
(below the image, outside it, beyond max_range) are skipped: the visible ground is convex, so a ray enters it
once and leaves it once. Per REP-117 each range is one of

* a finite distance: the first non-drivable sample (midway between it and the sample before, error <= step/2);
* ``+inf``: no obstacle, and drivable ground was seen along the ray up to range_max;
* ``NaN``: no obstacle seen, but the ray left the visible ground (or never entered it) before range_max,
  so nothing can be said about it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import DrivableConfig
from .geometry import GroundCamera
from .grid import FREE, OCCUPIED, OccupancyGridData

# A ray whose farthest drivable sample is this many steps short of range_max still counts as seen to the end
# (cell centres and pixel rounding make the last sample flicker between seen and unseen).
_END_TOLERANCE_STEPS = 1.5


@dataclass(frozen=True)
class ScanData:
    """sensor_msgs/LaserScan payload; bearings are counter-clockwise from ground-frame x, about ground z."""

    angle_min: float
    angle_max: float
    angle_increment: float
    range_min: float
    range_max: float
    ranges: np.ndarray  # float32 (beams,)
    origin_x: float = 0.0  # ground-frame point the ranges are measured from
    origin_y: float = 0.0

    @property
    def angles(self) -> np.ndarray:
        return self.angle_min + np.arange(self.ranges.size) * self.angle_increment

    def endpoints(self) -> tuple[np.ndarray, np.ndarray]:
        """Ground-frame (x, y) of the finite ranges (obstacle boundary points)."""
        finite = np.isfinite(self.ranges)
        a, r = self.angles[finite], self.ranges[finite].astype(np.float64)
        return self.origin_x + r * np.cos(a), self.origin_y + r * np.sin(a)


@dataclass(frozen=True)
class RaySamples:
    """Bearings and sample distances of a scan, with the ground-frame position of every sample."""

    angles: np.ndarray  # (beams,)
    distances: np.ndarray  # (samples,)
    x: np.ndarray  # (beams, samples)
    y: np.ndarray
    step: float
    range_max: float
    origin_x: float
    origin_y: float


def ray_samples(
    origin: tuple[float, float], centre: float, fov: float, beams: int, range_max: float, step: float
) -> RaySamples:
    angles = centre + np.linspace(-fov / 2.0, fov / 2.0, beams)
    count = max(1, math.floor(range_max / step + 1e-9))
    distances = (np.arange(count) + 1.0) * step
    x = origin[0] + np.cos(angles)[:, None] * distances
    y = origin[1] + np.sin(angles)[:, None] * distances
    return RaySamples(angles, distances, x, y, step, range_max, origin[0], origin[1])


def ranges_from_states(occupied: np.ndarray, free: np.ndarray, rays: RaySamples) -> np.ndarray:
    """Ranges (float32, per REP-117 as in the module docstring) from per-sample booleans shaped (beams, samples)."""
    beams, count = occupied.shape
    first = occupied.argmax(axis=1)
    hit = occupied[np.arange(beams), first]
    ranges = np.full(beams, np.nan, dtype=np.float32)
    ranges[hit] = rays.distances[first[hit]] - rays.step / 2.0
    last_free = count - 1 - free[:, ::-1].argmax(axis=1)
    seen_to_end = free.any(axis=1) & (rays.distances[last_free] >= rays.range_max - _END_TOLERANCE_STEPS * rays.step)
    ranges[~hit & seen_to_end] = np.inf
    return ranges


def _scan_data(rays: RaySamples, ranges: np.ndarray) -> ScanData:
    beams = rays.angles.size
    increment = float(rays.angles[1] - rays.angles[0]) if beams > 1 else 0.0
    return ScanData(
        float(rays.angles[0]),
        float(rays.angles[-1]),
        increment,
        0.0,
        float(rays.range_max),
        ranges,
        rays.origin_x,
        rays.origin_y,
    )


@dataclass(frozen=True)
class ScanLookup:
    """For every ray sample, the flat index of the mask pixel it is read from (``unseen`` when not visible)."""

    key: tuple[Any, ...]
    rays: RaySamples
    sample_pixel: np.ndarray  # (beams, samples) intp into the mask extended by one UNSEEN element
    unseen: int


def build_scan_lookup(config: DrivableConfig, camera: GroundCamera, key: tuple[Any, ...] = ()) -> ScanLookup:
    """Project each ray sample straight into the image, so the scan is not clipped by the grid's extent."""
    rays = ray_samples(
        config.scan_origin,
        config.camera_yaw,
        config.scan_fov,
        config.scan_beams,
        config.max_range,
        config.grid_resolution,
    )
    pixel = camera.pixel_index(rays.x, rays.y)
    in_range = np.hypot(rays.x - config.camera_x, rays.y - config.camera_y) <= config.max_range
    unseen = camera.intrinsics.width * camera.intrinsics.height
    return ScanLookup(key, rays, np.where(in_range & (pixel >= 0), pixel, unseen).astype(np.intp), unseen)


def scan_from_mask(extended_mask: np.ndarray, lookup: ScanLookup) -> ScanData:
    """Per-frame scan: one gather from the (extended) 0/255 mask, then a first-hit search along each ray."""
    if extended_mask.size != lookup.unseen + 1:
        raise ValueError(f"mask has {extended_mask.size - 1} pixels, lookup was built for {lookup.unseen}")
    values = np.take(extended_mask, lookup.sample_pixel)
    return _scan_data(lookup.rays, ranges_from_states(values == 0, values == 255, lookup.rays))


def scan_from_grid(
    grid: OccupancyGridData,
    origin: tuple[float, float] = (0.0, 0.0),
    centre: float = 0.0,
    fov: float = math.pi / 2.0,
    beams: int = 181,
    range_max: float = 40.0,
    step: float | None = None,
) -> ScanData:
    """The same scan computed on any occupancy grid (cells outside it count as unknown)."""
    rays = ray_samples(origin, centre, fov, beams, range_max, step or grid.resolution)
    j = np.floor((rays.x - grid.origin_x) / grid.resolution).astype(np.intp)
    i = np.floor((rays.y - grid.origin_y) / grid.resolution).astype(np.intp)
    inside = (i >= 0) & (i < grid.height) & (j >= 0) & (j < grid.width)
    values = np.where(inside, grid.data[np.clip(i, 0, grid.height - 1), np.clip(j, 0, grid.width - 1)], -1)
    return _scan_data(rays, ranges_from_states(values == OCCUPIED, values == FREE, rays))
