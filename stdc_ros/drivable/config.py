"""Configuration of the drivable-area pipeline: one frozen dataclass, validated as a whole.

Frames follow REP-103: the ground frame has x forward, y left, z up, its origin on the ground plane (z = 0).
Camera angles are applied yaw (about ground z), then pitch (about the camera's left axis, positive = looking
down), then roll (about the camera's forward axis, positive = the camera's left side up).
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..parameter_field import declared_fields, parameter

_FRAME_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$")


def valid_frame_id(frame: str) -> bool:
    """A usable TF frame id: letters, digits, ``_ . / -``, no leading ``/`` and no spaces."""
    return isinstance(frame, str) and bool(_FRAME_ID.match(frame))


@dataclass(frozen=True)
class DrivableConfig:
    """Every tunable of the drivable-area pipeline. Build with ``from_mapping``/``replace`` to get validation.

    Defaults suit CamVid: a forward camera about 1.2 m above the road, 480x360 frames. CamVid publishes no
    calibration, so the fallback intrinsics are an assumption: fx = fy = 0.9 * 480 = 432 px (about 58 degrees
    horizontal field of view), principal point at the image centre (239.5, 179.5).
    """

    # --- image-space mask
    drivable_classes: tuple[int, ...] = parameter(
        (3,),
        "class ids counted as drivable (CamVid: 3 road; Cityscapes: 0 road, 9 parking)",
        range=(0, 255),
        doc="class ids counted as drivable (CamVid: 3 road; Cityscapes: 0 road, 9 parking); the node's default is "
        "the label set's own drivable classes",
    )
    morph_kernel: int = parameter(
        5, "odd size in pixels of the elliptic clean-up kernel (opening, then closing); 0 = off", range=(0, 51)
    )
    ego_connected: bool = parameter(
        True, "keep only the drivable region connected to the ego seed at the bottom of the image"
    )
    connectivity: int = parameter(4, "pixel connectivity of the ego-connected region: 4 or 8", range=(4, 8))
    seed_width: float = parameter(
        0.3, "width of the ego seed region at the bottom centre, fraction of the image width", range=(0.01, 1.0)
    )
    seed_height: float = parameter(
        0.08, "height of the ego seed region, fraction of the image height", range=(0.01, 1.0)
    )
    seed_offset: float = parameter(
        0.0, "lift of the seed region above the bottom edge, fraction of the image height", range=(0.0, 0.9)
    )
    # --- camera mounting in the ground frame (flat ground)
    camera_height: float = parameter(
        1.2, "height of the camera's optical centre above the ground plane, m", range=(0.05, 20.0), geometry=True
    )
    camera_pitch: float = parameter(0.0, "camera pitch, rad, positive = looking down", range=(-1.5, 1.5), geometry=True)
    camera_roll: float = parameter(
        0.0, "camera roll about its forward axis, rad, positive = left side up", range=(-1.5, 1.5), geometry=True
    )
    camera_yaw: float = parameter(
        0.0, "camera yaw in the ground frame, rad, positive = turned left", range=(-math.pi, math.pi), geometry=True
    )
    camera_x: float = parameter(
        0.0, "camera position along ground x (forward), m", range=(-100.0, 100.0), geometry=True
    )
    camera_y: float = parameter(0.0, "camera position along ground y (left), m", range=(-100.0, 100.0), geometry=True)
    # --- grid (cell (i, j) centre at (grid_x_min + (j + 0.5) * res, grid_y_min + (i + 0.5) * res))
    grid_resolution: float = parameter(0.1, "grid cell size, m", range=(0.01, 5.0), geometry=True)
    grid_x_min: float = parameter(0.0, "grid extent: lowest x (back edge), m", range=(-500.0, 500.0), geometry=True)
    grid_x_max: float = parameter(40.0, "grid extent: highest x (front edge), m", range=(-500.0, 500.0), geometry=True)
    grid_y_min: float = parameter(-10.0, "grid extent: lowest y (right edge), m", range=(-500.0, 500.0), geometry=True)
    grid_y_max: float = parameter(10.0, "grid extent: highest y (left edge), m", range=(-500.0, 500.0), geometry=True)
    max_range: float = parameter(
        40.0,
        "ground distance from the camera beyond which cells stay unknown, m",
        range=(0.1, 1000.0),
        geometry=True,
    )
    max_cells: int = parameter(1_000_000, "largest grid (width x height cells) accepted", range=(1, 100_000_000))
    # --- free-space scan
    scan_fov: float = parameter(
        1.5708,
        "free-space scan field of view, rad, centred on the camera yaw",
        range=(0.01, 2.0 * math.pi),
        geometry=True,
    )
    scan_beams: int = parameter(181, "number of free-space scan beams", range=(2, 10_000), geometry=True)
    ground_frame: str = parameter(
        "base_footprint", "frame id of the drivable grid (REP-103 ground frame below the vehicle)"
    )
    scan_frame: str = parameter("", "frame id of the free-space scan; empty = ground_frame", geometry=True)
    # --- fallback pinhole intrinsics when no camera_info arrives (assumed for CamVid, see class docstring)
    default_fx: float = parameter(
        432.0,
        "fallback focal length x, px at default_width (used without camera_info)",
        range=(1.0, 1.0e5),
        geometry=True,
    )
    default_fy: float = parameter(
        432.0, "fallback focal length y, px at default_height", range=(1.0, 1.0e5), geometry=True
    )
    default_cx: float = parameter(239.5, "fallback principal point x, px", range=(-1.0e4, 1.0e4), geometry=True)
    default_cy: float = parameter(179.5, "fallback principal point y, px", range=(-1.0e4, 1.0e4), geometry=True)
    default_width: int = parameter(
        480, "image width the fallback intrinsics refer to, px", range=(1, 20_000), geometry=True
    )
    default_height: int = parameter(
        360, "image height the fallback intrinsics refer to, px", range=(1, 20_000), geometry=True
    )

    # ------------------------------------------------------------------ derived values
    @property
    def grid_width(self) -> int:
        """Cells along x (columns of OccupancyGrid.data); the extent is rounded to whole cells."""
        return max(1, round((self.grid_x_max - self.grid_x_min) / self.grid_resolution))

    @property
    def grid_height(self) -> int:
        """Cells along y (rows of OccupancyGrid.data)."""
        return max(1, round((self.grid_y_max - self.grid_y_min) / self.grid_resolution))

    @property
    def grid_cells(self) -> int:
        return self.grid_width * self.grid_height

    @property
    def scan_frame_id(self) -> str:
        """Frame the scan is published in: ``scan_frame``, or ``ground_frame`` when that is empty."""
        return self.scan_frame or self.ground_frame

    @property
    def scan_origin(self) -> tuple[float, float]:
        """Ground-frame point the scan ranges are measured from.

        With ``scan_frame`` set it is the camera's ground point (camera_x, camera_y) and that frame must be
        broadcast as ground_frame + (camera_x, camera_y, 0), no rotation. With ``scan_frame`` empty the scan
        is published in ground_frame itself, so the rays must start at its origin to stay consistent.
        """
        return (self.camera_x, self.camera_y) if self.scan_frame else (0.0, 0.0)

    def geometry_key(self) -> tuple[Any, ...]:
        """Values that the precomputed lookups depend on (besides the image size and intrinsics)."""
        return tuple(getattr(self, name) for name in GEOMETRY_FIELDS)

    # ------------------------------------------------------------------ validation
    def validate(self) -> DrivableConfig:
        """Raise ValueError with a readable reason when a value is unusable; return self for chaining."""
        for name, (low, high, _) in PARAMETER_RANGES.items():
            values = self.drivable_classes if name == "drivable_classes" else (getattr(self, name),)
            for value in values:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ValueError(f"{name} must be a finite number, got {value!r}")
                if not low <= value <= high:
                    raise ValueError(f"{name} = {value} is outside [{low}, {high}] ({PARAMETER_RANGES[name][2]})")
        if not self.drivable_classes:
            raise ValueError("drivable_classes is empty: at least one class id must count as drivable")
        if self.morph_kernel != 0 and self.morph_kernel % 2 == 0:
            raise ValueError(f"morph_kernel = {self.morph_kernel} must be odd (or 0 to switch the clean-up off)")
        if self.connectivity not in (4, 8):
            raise ValueError(f"connectivity = {self.connectivity} must be 4 or 8")
        if self.seed_offset + self.seed_height > 1.0:
            raise ValueError(
                f"seed region leaves the image: seed_offset + seed_height = {self.seed_offset + self.seed_height} > 1"
            )
        if self.grid_x_max - self.grid_x_min < self.grid_resolution:
            raise ValueError(f"grid_x_max ({self.grid_x_max}) must exceed grid_x_min ({self.grid_x_min}) by a cell")
        if self.grid_y_max - self.grid_y_min < self.grid_resolution:
            raise ValueError(f"grid_y_max ({self.grid_y_max}) must exceed grid_y_min ({self.grid_y_min}) by a cell")
        if self.grid_cells > self.max_cells:
            raise ValueError(
                f"grid of {self.grid_width} x {self.grid_height} = {self.grid_cells} cells exceeds max_cells "
                f"({self.max_cells}): coarsen grid_resolution or shrink the extent"
            )
        if self.max_range / self.grid_resolution > 100_000:
            raise ValueError("max_range / grid_resolution exceeds 100000 scan samples per beam")
        for name in ("ground_frame", "scan_frame"):
            frame = getattr(self, name)
            if not isinstance(frame, str) or (frame and not valid_frame_id(frame)):
                raise ValueError(f"{name} = {frame!r} is not a valid frame id (no leading '/', no spaces)")
        if not self.ground_frame:
            raise ValueError("ground_frame must not be empty")
        return self

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> DrivableConfig:
        """A validated config from {field: value} (missing fields keep their defaults; unknown ones are refused)."""
        return cls().replace(**dict(values))

    def replace(self, **changes: Any) -> DrivableConfig:
        """A validated copy with ``changes`` applied together (so a set of parameter updates is atomic)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ValueError(f"unknown drivable parameter(s): {', '.join(unknown)}")
        hints = typing.get_type_hints(type(self))
        coerced = {name: _coerce(name, hints[name], value) for name, value in changes.items()}
        return dataclasses.replace(self, **coerced).validate()

    def to_mapping(self) -> dict[str, Any]:
        """{field: value} with tuples as lists, e.g. to declare ROS parameters."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


# {field: (min, max, description)} from the declarations; for drivable_classes the range applies to every element.
PARAMETER_RANGES: dict[str, tuple[float, float, str]] = {
    f.name: (info.range[0], info.range[1], info.description)
    for f, info in declared_fields(DrivableConfig)
    if info.range is not None
}
# Fields whose change invalidates the precomputed pixel/cell lookups (everything else is per-frame).
GEOMETRY_FIELDS: tuple[str, ...] = tuple(f.name for f, info in declared_fields(DrivableConfig) if info.geometry)


def _coerce(name: str, kind: Any, value: Any) -> Any:
    """Convert a parameter value (ROS gives ints for whole floats and lists for arrays) to the field's type."""
    try:
        if kind is bool:
            if not isinstance(value, bool):
                raise TypeError
            return value
        if kind is int:
            if isinstance(value, bool) or not float(value).is_integer():
                raise TypeError
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if kind is str:
            if not isinstance(value, str):
                raise TypeError
            return value
        if typing.get_origin(kind) is tuple:
            items = [value] if isinstance(value, (int, float)) else list(value)
            return tuple(_coerce(name, int, v) for v in items)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} = {value!r} is not a valid {getattr(kind, '__name__', kind)}") from exc
    raise ValueError(f"{name}: unsupported field type {kind}")
