"""The one reader of frames and label maps on disk, shared by the bag tools and the training data sets."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from stdc_ros.errors import BagError
from stdc_ros.image_files import read_label_map, read_rgb

pytest.importorskip("torch")  # needs torch: skipped where it is absent (a ROS install, .venv-jazzy)

from training.datasets import DatasetLayoutError


def test_frames_come_back_as_rgb_and_label_maps_unchanged(tmp_path: Path) -> None:
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[..., 0] = 200  # red
    cv2.imwrite(str(tmp_path / "frame.png"), rgb[:, :, ::-1])
    assert np.array_equal(read_rgb(tmp_path / "frame.png"), rgb)
    labels = np.arange(24, dtype=np.uint8).reshape(4, 6)
    cv2.imwrite(str(tmp_path / "labels.png"), labels)
    assert np.array_equal(read_label_map(tmp_path / "labels.png"), labels)


@pytest.mark.parametrize("error", [BagError, DatasetLayoutError])
def test_each_caller_gets_its_own_error_naming_the_file(tmp_path: Path, error: type[Exception]) -> None:
    with pytest.raises(error, match=r"missing\.png"):
        read_rgb(tmp_path / "missing.png", error)
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(error, match=r"text\.png"):
        read_label_map(tmp_path / "text.png", error)
    cv2.imwrite(str(tmp_path / "colour.png"), np.zeros((4, 6, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "deep.png"), np.zeros((4, 6), np.uint16))
    for name in ("colour.png", "deep.png"):
        with pytest.raises(error, match=f"{name} must be one 8-bit channel"):
            read_label_map(tmp_path / name, error)
