"""Pictures of the drivable area: a bird's-eye view of the grid (forward up, left on the left) beside an overlay.

Also a small command line tool that runs a label map through the pipeline and writes the picture:

    python -m stdc_ros.drivable.render --labels L.png --image I.png --out O.png [--set camera_pitch=0.02 ...]
"""

from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import yaml

from ..image_files import read_label_map, read_rgb
from .config import DrivableConfig
from .grid import FREE, OCCUPIED, OccupancyGridData
from .pipeline import DrivableArea
from .scan import ScanData

_log = logging.getLogger(__name__)

FREE_RGB = (70, 190, 90)
OCCUPIED_RGB = (190, 55, 55)
UNKNOWN_RGB = (40, 40, 46)
LINE_RGB = (110, 110, 120)
SCAN_RGB = (255, 220, 40)
EGO_RGB = (80, 160, 255)


def render_birdseye(
    grid: OccupancyGridData,
    scale: int = 2,
    scan: ScanData | None = None,
    camera_xy: tuple[float, float] | None = None,
    line_every_m: float = 5.0,
) -> np.ndarray:
    """RGB uint8 top view, forward (ground +x) up and left (+y) to the left, ``scale`` pixels per cell.

    Optional extras: metric lines every ``line_every_m``, the scan's obstacle points, the camera's ground point.
    """
    colours = np.array([UNKNOWN_RGB, FREE_RGB, OCCUPIED_RGB], dtype=np.uint8)
    index = np.where(grid.data == FREE, 1, np.where(grid.data == OCCUPIED, 2, 0))
    top = colours[index].transpose(1, 0, 2)[::-1, ::-1]  # rows: x descending, cols: y descending
    top = np.ascontiguousarray(np.repeat(np.repeat(top, scale, axis=0), scale, axis=1))
    x_max = grid.origin_x + grid.width * grid.resolution
    y_max = grid.origin_y + grid.height * grid.resolution
    px_per_m = scale / grid.resolution

    def to_px(x: float, y: float) -> tuple[int, int]:
        return round((y_max - y) * px_per_m), round((x_max - x) * px_per_m)

    if line_every_m > 0:
        for x in np.arange(math.ceil(grid.origin_x / line_every_m) * line_every_m, x_max, line_every_m):
            row = to_px(x, 0.0)[1]
            cv2.line(top, (0, row), (top.shape[1] - 1, row), LINE_RGB, 1)
            cv2.putText(top, f"{x:g} m", (3, row - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.35, LINE_RGB, 1, cv2.LINE_AA)
        for y in np.arange(math.ceil(grid.origin_y / line_every_m) * line_every_m, y_max, line_every_m):
            col = to_px(0.0, y)[0]
            cv2.line(top, (col, 0), (col, top.shape[0] - 1), LINE_RGB, 1)
    if scan is not None:
        for x, y in zip(*scan.endpoints()):
            cv2.circle(top, to_px(float(x), float(y)), max(1, scale), SCAN_RGB, -1)
    if camera_xy is not None:
        cv2.drawMarker(top, to_px(*camera_xy), EGO_RGB, cv2.MARKER_TRIANGLE_UP, 6 * scale, 2)
    return top


def overlay_labels(
    image_rgb: np.ndarray,
    labels: np.ndarray,
    palette: np.ndarray,
    mask: np.ndarray | None = None,
    alpha: float = 0.45,
) -> np.ndarray:
    """The image blended with the label colours; the drivable mask, if given, outlined in the free colour."""
    colour = palette[labels]
    out = cv2.addWeighted(image_rgb, 1.0 - alpha, colour, alpha, 0.0)
    if mask is not None:
        contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, (60, 255, 90), 2)
    return out


def side_by_side(overlay_rgb: np.ndarray, birdseye_rgb: np.ndarray, gap: int = 6) -> np.ndarray:
    """The overlay and the bird's-eye view next to each other, the latter resized (nearest) to the same height."""
    height = overlay_rgb.shape[0]
    width = max(1, round(birdseye_rgb.shape[1] * height / birdseye_rgb.shape[0]))
    top = cv2.resize(birdseye_rgb, (width, height), interpolation=cv2.INTER_NEAREST)
    spacer = np.full((height, gap, 3), 255, dtype=np.uint8)
    return np.concatenate([overlay_rgb, spacer, top], axis=1)


def render_example(
    labels: np.ndarray,
    image_rgb: np.ndarray | None,
    palette: np.ndarray,
    config: DrivableConfig,
    scale: int = 2,
) -> np.ndarray:
    """Labels through the pipeline (fallback intrinsics) into overlay | bird's-eye."""
    result = DrivableArea(config).process(labels, None)
    if image_rgb is None:
        image_rgb = np.zeros((*labels.shape, 3), dtype=np.uint8)
    overlay = overlay_labels(image_rgb, labels, palette, result.mask)
    assert result.grid is not None
    top = render_birdseye(result.grid, scale, result.scan, (config.camera_x, config.camera_y))
    return side_by_side(overlay, top)


def _parse_sets(items: Sequence[str]) -> dict[str, object]:
    values: dict[str, object] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep:
            raise SystemExit(f"--set expects NAME=VALUE, got {item!r}")
        values[name.strip()] = yaml.safe_load(text)
    return values


def main(argv: Sequence[str] | None = None) -> int:
    from ..labels import load_label_set

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, required=True, help="label-id PNG (one channel)")
    parser.add_argument("--image", type=Path, help="the matching RGB frame (optional)")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--label-set", default="camvid", help="label set name or YAML (palette, drivable ids)")
    parser.add_argument("--scale", type=int, default=2, help="bird's-eye pixels per grid cell")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="config override")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    label_set = load_label_set(args.label_set)
    overrides = {"drivable_classes": label_set.drivable, **_parse_sets(args.set)}
    try:
        config = DrivableConfig.from_mapping(overrides)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        labels = read_label_map(args.labels)
        image = None
        if args.image is not None:
            image = cv2.resize(read_rgb(args.image), labels.shape[::-1], interpolation=cv2.INTER_AREA)
    except ValueError as exc:
        parser.error(str(exc))
    picture = render_example(labels, image, label_set.palette(), config, args.scale)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)):
        raise SystemExit(f"could not write {args.out}")
    _log.info("wrote %s (%dx%d)", args.out, picture.shape[1], picture.shape[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
