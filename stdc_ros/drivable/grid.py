"""Inverse perspective mapping of a drivable mask onto a ground-plane occupancy grid.

Each cell centre is projected into the image once (``GridLookup``); per frame the grid is a single gather
from the mask, so every visible cell gets a value (no holes far away, unlike scattering pixels into cells).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import DrivableConfig
from .geometry import GroundCamera

FREE = 0
OCCUPIED = 100
UNKNOWN = -1

# Mask values: 0 = not drivable, 255 = drivable; UNSEEN marks the extra element that unknown cells point at.
UNSEEN = 1


@dataclass(frozen=True)
class OccupancyGridData:
    """nav_msgs/OccupancyGrid payload: ``data`` (height x width int8) rows along y, columns along x.

    Cell (i, j) covers the square whose centre is (origin_x + (j + 0.5) * resolution, origin_y + (i + 0.5) *
    resolution) in the ground frame; values are 0 free, 100 occupied, -1 unknown.
    """

    data: np.ndarray
    resolution: float
    width: int
    height: int
    origin_x: float
    origin_y: float

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of every cell centre, each shaped like ``data``."""
        return _cell_centres(self.origin_x, self.origin_y, self.resolution, self.width, self.height)

    def cell_of(self, x: float, y: float) -> tuple[int, int] | None:
        """(row, col) of the cell containing ground point (x, y), or None outside the grid."""
        j = int(np.floor((x - self.origin_x) / self.resolution))
        i = int(np.floor((y - self.origin_y) / self.resolution))
        return (i, j) if 0 <= i < self.height and 0 <= j < self.width else None


def _cell_centres(ox: float, oy: float, res: float, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    xs = ox + (np.arange(width) + 0.5) * res
    ys = oy + (np.arange(height) + 0.5) * res
    return np.broadcast_to(xs, (height, width)), np.broadcast_to(ys[:, None], (height, width))


@dataclass(frozen=True)
class GridLookup:
    """For every cell, the flat index of the mask pixel it is read from (``unseen`` when not visible)."""

    key: tuple[Any, ...]
    cell_pixel: np.ndarray  # (height * width,) intp into the mask extended by one UNSEEN element
    unseen: int  # == number of mask pixels
    width: int
    height: int
    resolution: float
    origin_x: float
    origin_y: float

    @property
    def visible_cells(self) -> int:
        return int(np.count_nonzero(self.cell_pixel != self.unseen))


def build_grid_lookup(config: DrivableConfig, camera: GroundCamera, key: tuple[Any, ...] = ()) -> GridLookup:
    """Project each cell centre; cells beyond max_range (from the camera's ground point) stay unknown."""
    k = camera.intrinsics
    width, height, res = config.grid_width, config.grid_height, config.grid_resolution
    x, y = _cell_centres(config.grid_x_min, config.grid_y_min, res, width, height)
    pixel = camera.pixel_index(x.ravel(), y.ravel())
    in_range = np.hypot(x.ravel() - config.camera_x, y.ravel() - config.camera_y) <= config.max_range
    unseen = k.width * k.height
    cell_pixel = np.where(in_range & (pixel >= 0), pixel, unseen).astype(np.intp)
    return GridLookup(key, cell_pixel, unseen, width, height, res, config.grid_x_min, config.grid_y_min)


def extend_mask(mask: np.ndarray) -> np.ndarray:
    """The mask flattened with one UNSEEN element appended, so unknown cells need no separate branch."""
    flat = np.empty(mask.size + 1, dtype=np.uint8)
    flat[:-1] = mask.ravel()
    flat[-1] = UNSEEN
    return flat


def grid_from_mask(extended_mask: np.ndarray, lookup: GridLookup) -> OccupancyGridData:
    """Per-frame IPM: one gather from the (extended) mask, then 0 -> OCCUPIED, 255 -> FREE, UNSEEN -> UNKNOWN."""
    if extended_mask.size != lookup.unseen + 1:
        raise ValueError(f"mask has {extended_mask.size - 1} pixels, lookup was built for {lookup.unseen}")
    seen = np.take(extended_mask, lookup.cell_pixel)
    # two comparisons beat a 256-entry table here: numpy's uint8-indexed gather converts every index to intp
    data = (seen == 0).view(np.int8) * np.int8(OCCUPIED) - (seen == UNSEEN).view(np.int8)
    data = data.reshape(lookup.height, lookup.width)
    return OccupancyGridData(data, lookup.resolution, lookup.width, lookup.height, lookup.origin_x, lookup.origin_y)
