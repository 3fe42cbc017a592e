"""Bird's-eye rendering, the render CLI, image-space drivable IoU, and the benchmark function."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from stdc_ros.bench.drivable import bench_drivable, synthetic_labels
from stdc_ros.drivable import FREE, OCCUPIED, UNKNOWN, DrivableConfig, OccupancyGridData
from stdc_ros.drivable.evaluate import DrivableIoU, camvid_pairs, evaluate_split
from stdc_ros.drivable.render import FREE_RGB, OCCUPIED_RGB, UNKNOWN_RGB, main, render_birdseye, side_by_side


def test_birdseye_orientation_forward_up_left_left() -> None:
    data = np.full((4, 6), UNKNOWN, dtype=np.int8)  # 4 cells along y, 6 along x
    data[3, 5] = FREE  # farthest forward (x), farthest left (y)
    data[0, 0] = OCCUPIED  # nearest, rightmost
    grid = OccupancyGridData(data, 1.0, 6, 4, 0.0, -2.0)
    top = render_birdseye(grid, scale=3, line_every_m=0)
    assert top.shape == (18, 12, 3) and top.dtype == np.uint8
    assert tuple(top[0, 0]) == FREE_RGB  # top-left: forward and left
    assert tuple(top[-1, -1]) == OCCUPIED_RGB  # bottom-right: near and right
    assert tuple(top[8, 6]) == UNKNOWN_RGB


def test_side_by_side_matches_heights() -> None:
    overlay = np.zeros((360, 480, 3), dtype=np.uint8)
    top = np.zeros((800, 400, 3), dtype=np.uint8)
    picture = side_by_side(overlay, top, gap=6)
    assert picture.shape == (360, 480 + 6 + 180, 3)


def test_render_cli_writes_a_picture(tmp_path: Path) -> None:
    labels = synthetic_labels(DrivableConfig())
    label_path, out = tmp_path / "labels.png", tmp_path / "out" / "picture.png"
    cv2.imwrite(str(label_path), labels)
    assert main(["--labels", str(label_path), "--out", str(out), "--set", "grid_x_max=30", "--scale", "1"]) == 0
    picture = cv2.imread(str(out))
    assert picture is not None and picture.shape[0] == 360 and picture.shape[1] > 480
    with pytest.raises(SystemExit):
        main(["--labels", str(label_path), "--out", str(out), "--set", "morph_kernel=4"])


def test_drivable_iou_counts() -> None:
    truth = np.array([[3, 3, 1, 11]], dtype=np.uint8)
    mask = np.array([[255, 0, 255, 255]], dtype=np.uint8)  # tp 1, fn 1, fp 1, one ignored
    score = DrivableIoU((3,), ignore_index=11)
    score.update(mask, truth)
    assert (score.tp, score.fp, score.fn) == (1, 1, 1)
    assert score.iou() == pytest.approx(1 / 3) and score.f1() == pytest.approx(0.5)
    assert np.isnan(DrivableIoU((3,)).iou())


def test_evaluate_ground_truth_on_camvid(camvid_root: Path) -> None:
    pairs = camvid_pairs(camvid_root, "test")[:8]
    scores = evaluate_split(pairs, DrivableConfig(), ignore_index=11)
    assert scores["raw_iou"] == 1.0
    assert 0.9 < scores["drivable_iou"] <= 1.0


def test_bench_reports_every_stage() -> None:
    report = bench_drivable(iters=5, warmup=1)
    for stage in ("mask", "grid", "scan", "total"):
        assert 0 < report[stage]["p50"] <= report[stage]["p90"]
    assert report["grid_size"].startswith("400x200")
