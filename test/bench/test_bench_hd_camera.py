"""`stdc-ros bench --sections hdcamera` end to end on tiny settings: a 1920x1080 camera in its own process (best
effort, packaged DDS profile) through the node; no timing is checked, only that every frame reached the node."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stdc_ros.cli import main as cli_main

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_hd_camera_section_carries_1080p_frames(tmp_path: Path, tiny_onnx: Path) -> None:
    out = tmp_path / "bench.json"
    args = ["bench", "--sections", "hdcamera", "-o", str(out), "--hd-model", str(tiny_onnx), "--hd-threads", "1"]
    args += ["--hd-hz", "5", "--hd-seconds", "1", "--hd-rows", "1080x1920:bgr8"]
    assert cli_main(args) == 0
    (row,) = json.loads(out.read_text())["sections"]["hdcamera"]["rows"]
    assert (row["size"], row["encoding"], row["sent"]) == ("1080x1920", "bgr8", 5)
    assert row["mb_per_frame"] == pytest.approx(1920 * 1080 * 3 / 1e6, rel=0.01)
    assert row["lost_in_transport"] == 0 and row["processed"] + row["dropped_by_node"] == 5
