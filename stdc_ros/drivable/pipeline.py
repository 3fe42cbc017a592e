"""Drivable area from a label map: image mask, ground-plane occupancy grid, free-space scan (no ROS inside)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from .config import DrivableConfig
from .geometry import GroundCamera
from .grid import GridLookup, OccupancyGridData, build_grid_lookup, extend_mask, grid_from_mask
from .intrinsics import Intrinsics
from .mask import drivable_mask
from .scan import ScanData, ScanLookup, build_scan_lookup, scan_from_mask

__all__ = ["DrivableArea", "DrivableResult", "OccupancyGridData", "ScanData"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrivableResult:
    mask: np.ndarray  # uint8 HxW, 255 drivable, 0 not (input resolution)
    grid: OccupancyGridData | None
    scan: ScanData | None
    intrinsics: Intrinsics  # what the geometry used, at the mask resolution
    timing_ms: dict[str, float] = field(default_factory=dict)  # mask, lookup, grid, scan, total


class DrivableArea:
    """Turns label maps into drivable outputs; the pixel/cell lookups are rebuilt only when their inputs change.

    ``set_config`` may be called from another thread while ``process`` runs: a frame uses the config it started
    with, the next frame the new one.
    """

    def __init__(self, config: DrivableConfig | None = None) -> None:
        self._config = (config or DrivableConfig()).validate()
        self._lock = threading.Lock()
        self._grid_lookup: GridLookup | None = None
        self._scan_lookup: ScanLookup | None = None
        self._builds = 0

    @property
    def config(self) -> DrivableConfig:
        return self._config

    @property
    def lookup_builds(self) -> int:
        """How many grid or scan lookups were built so far (diagnostics, tests)."""
        return self._builds

    def set_config(self, config: DrivableConfig) -> None:
        """Swap in a new (validated) config; lookups are dropped only when a geometry value changed."""
        config.validate()
        with self._lock:
            if config.geometry_key() != self._config.geometry_key():
                self._grid_lookup = None
                self._scan_lookup = None
            self._config = config

    def process(
        self,
        labels: np.ndarray,
        intrinsics: Intrinsics | None = None,
        want_grid: bool = True,
        want_scan: bool = True,
    ) -> DrivableResult:
        """One frame. ``labels``: uint8 HxW class ids. ``intrinsics``: from camera_info at any resolution (scaled
        to the label map's), or None for the configured fallback."""
        t0 = time.perf_counter()
        config = self._config  # snapshot: a concurrent set_config affects the next frame only
        mask = drivable_mask(labels, config)
        t1 = time.perf_counter()
        height, width = mask.shape
        camera_k = (intrinsics or Intrinsics.from_config(config)).scaled_to(width, height)
        timing = {"mask": (t1 - t0) * 1e3}
        grid = scan = None
        if want_grid or want_scan:
            key = (config.geometry_key(), camera_k)
            grid_lookup, scan_lookup = self._lookups(config, camera_k, key, want_grid, want_scan)
            t2 = time.perf_counter()
            timing["lookup"] = (t2 - t1) * 1e3
            extended = extend_mask(mask)
            if grid_lookup is not None:
                grid = grid_from_mask(extended, grid_lookup)
            t3 = time.perf_counter()
            if scan_lookup is not None:
                scan = scan_from_mask(extended, scan_lookup)
            t4 = time.perf_counter()
            timing["grid"] = (t3 - t2) * 1e3
            timing["scan"] = (t4 - t3) * 1e3
        timing["total"] = (time.perf_counter() - t0) * 1e3
        return DrivableResult(mask, grid, scan, camera_k, timing)

    def _lookups(
        self, config: DrivableConfig, camera_k: Intrinsics, key: tuple, want_grid: bool, want_scan: bool
    ) -> tuple[GridLookup | None, ScanLookup | None]:
        grid_lookup, scan_lookup = self._grid_lookup, self._scan_lookup
        camera = None
        if want_grid and (grid_lookup is None or grid_lookup.key != key):
            camera = GroundCamera.from_config(config, camera_k)
            grid_lookup = build_grid_lookup(config, camera, key)
            _log.debug("grid lookup rebuilt: %d of %d cells visible", grid_lookup.visible_cells, config.grid_cells)
            with self._lock:  # a lookup stored for a config swapped out meanwhile fails the key check next frame
                self._builds += 1
                self._grid_lookup = grid_lookup
        if want_scan and (scan_lookup is None or scan_lookup.key != key):
            camera = camera or GroundCamera.from_config(config, camera_k)
            scan_lookup = build_scan_lookup(config, camera, key)
            with self._lock:
                self._builds += 1
                self._scan_lookup = scan_lookup
        return (grid_lookup if want_grid else None), (scan_lookup if want_scan else None)
