"""Cost per frame of the drivable-area pipeline at 360x480 with a 40 m x 20 m grid at 0.1 m.

    python -m stdc_ros.bench.drivable [--iters 500] [--labels PNG]

Uses a real CamVid test label map when ../shared/camvid is present (override with STDC_CAMVID_ROOT), otherwise
a synthetic street scene drawn with the same camera model.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..drivable import DrivableArea, DrivableConfig
from ..drivable.geometry import GroundCamera
from ..drivable.intrinsics import Intrinsics
from ..resources import SOURCE_ROOT

HEIGHT, WIDTH = 360, 480
CAMVID_FRAME = "testannot/0001TP_008550.png"
STAGES = ("mask", "grid", "scan", "total")


def default_labels_path() -> Path:
    root = Path(os.environ.get("STDC_CAMVID_ROOT", SOURCE_ROOT.parent / "shared" / "camvid"))
    return root / CAMVID_FRAME


def synthetic_labels(config: DrivableConfig, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """CamVid ids: sky above the horizon, buildings, a 7 m road with a car and pavements, drawn by projection."""
    camera = GroundCamera.from_config(config, Intrinsics.from_config(config).scaled_to(width, height))
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    x, y, ground = camera.pixel_to_ground(u, v)
    labels = np.where(ground, 1, 0).astype(np.uint8)  # building below the horizon, sky above
    labels[ground & (np.abs(y) < 6.0) & (x < 60.0)] = 4  # pavement
    labels[ground & (np.abs(y) < 3.5)] = 3  # road
    labels[ground & (x > 14.0) & (x < 18.0) & (y > 0.5) & (y < 2.3)] = 8  # a car's footprint
    return labels


def _load_labels(path: Path | None, config: DrivableConfig) -> tuple[np.ndarray, str]:
    path = path or default_labels_path()
    labels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if path.is_file() else None
    if labels is None or labels.ndim != 2:
        return synthetic_labels(config), "synthetic"
    if labels.shape != (HEIGHT, WIDTH):
        labels = cv2.resize(labels, (WIDTH, HEIGHT), interpolation=cv2.INTER_NEAREST)
    return labels.astype(np.uint8), str(path)


def bench_drivable(iters: int = 500, labels_path: Path | None = None, warmup: int = 20) -> dict[str, Any]:
    """p50/p90 milliseconds of process() per stage (mask, grid, scan, total) after the lookups are built."""
    config = DrivableConfig()  # 40 m x 20 m at 0.1 m, 181 beams over 90 degrees
    labels, source = _load_labels(labels_path, config)
    area = DrivableArea(config)
    build_ms = area.process(labels, None).timing_ms["lookup"]  # the first frame builds the grid and scan lookups
    for _ in range(warmup):
        area.process(labels, None)
    samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for _ in range(max(1, iters)):
        start = time.perf_counter()
        result = area.process(labels, None)
        elapsed = (time.perf_counter() - start) * 1e3
        for stage in STAGES[:-1]:
            samples[stage].append(result.timing_ms[stage])
        samples["total"].append(elapsed)
    report: dict[str, Any] = {
        stage: {"p50": float(np.percentile(v, 50)), "p90": float(np.percentile(v, 90))} for stage, v in samples.items()
    }
    report.update(
        iters=max(1, iters),
        lookup_build_ms=build_ms,
        image=f"{WIDTH}x{HEIGHT}",
        grid_size=f"{config.grid_width}x{config.grid_height} cells at {config.grid_resolution} m",
        beams=config.scan_beams,
        labels=source,
        machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus, numpy {np.__version__}, "
        f"opencv {cv2.__version__}, {cv2.getNumThreads()} cv2 threads",
    )
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=500)
    parser.add_argument("--labels", type=Path, help="label PNG (default: a CamVid test frame, else synthetic)")
    args = parser.parse_args(argv)
    report = bench_drivable(args.iters, args.labels)
    print(f"drivable area, {report['image']} labels from {report['labels']}")
    print(f"grid {report['grid_size']}, {report['beams']} beams, {report['iters']} frames; {report['machine']}")
    print(f"lookup build (once per geometry change): {report['lookup_build_ms']:.1f} ms")
    for stage in STAGES:
        print(f"  {stage:>5}: p50 {report[stage]['p50']:.3f} ms   p90 {report[stage]['p90']:.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
