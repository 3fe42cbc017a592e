"""Dataset layouts: CamVid list files, Cityscapes labelIds -> train ids, clear errors naming files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")  # needs torch: skipped where it is absent (a ROS install, .venv-jazzy)

import torch

from training.datasets import CITYSCAPES_IGNORE, CamVid, Cityscapes, DatasetLayoutError
from training.transforms import EvalTransform, TrainTransform


def test_camvid_split_sizes_and_labels(camvid_root: Path) -> None:
    assert [len(CamVid(camvid_root, [s])) for s in ("train", "val", "test")] == [367, 101, 233]
    image, label = CamVid(camvid_root, ["test"]).load(0)
    assert image.shape == (360, 480, 3) and image.dtype == np.uint8
    assert label.shape == (360, 480) and label.max() <= 11


def test_camvid_missing_files_are_named(camvid_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match=r"list file not found: .*nope.txt"):
        CamVid(camvid_root, ["nope"])
    (tmp_path / "train.txt").write_text("train/a.png trainannot/a.png\n")
    with pytest.raises(DatasetLayoutError, match=r"missing dataset file .*a.png"):
        CamVid(tmp_path, ["train"])
    (tmp_path / "val.txt").write_text("only-one-column\n")
    with pytest.raises(DatasetLayoutError, match=r"val.txt:1"):
        CamVid(tmp_path, ["val"])


def test_cityscapes_layout_and_label_mapping(tmp_path: Path) -> None:
    image_dir = tmp_path / "leftImg8bit" / "val" / "aachen"
    label_dir = tmp_path / "gtFine" / "val" / "aachen"
    image_dir.mkdir(parents=True)
    label_dir.mkdir(parents=True)
    cv2.imwrite(str(image_dir / "aachen_000000_000019_leftImg8bit.png"), np.zeros((4, 6, 3), np.uint8))
    label_ids = np.array([[7, 8, 26, 33, 0, 1]] * 4, dtype=np.uint8)  # road, sidewalk, car, bicycle, void
    cv2.imwrite(str(label_dir / "aachen_000000_000019_gtFine_labelIds.png"), label_ids)
    data = Cityscapes(tmp_path, ["val"])
    _, train_ids = data.load(0)
    assert train_ids[0].tolist() == [0, 1, 13, 18, CITYSCAPES_IGNORE, CITYSCAPES_IGNORE]
    (label_dir / "aachen_000000_000019_gtFine_labelIds.png").unlink()
    with pytest.raises(DatasetLayoutError, match=r"gtFine_labelIds.png"):
        Cityscapes(tmp_path, ["val"])
    with pytest.raises(DatasetLayoutError, match=r"leftImg8bit/train"):
        Cityscapes(tmp_path, ["train"])


def test_train_transform_is_joint_and_pads_labels_with_ignore() -> None:
    torch.manual_seed(0)
    image = np.zeros((60, 80, 3), np.uint8)
    image[:, 40:] = 255  # right half white
    label = np.zeros((60, 80), np.uint8)
    label[:, 40:] = 1  # right half class 1
    t = TrainTransform(crop=(96, 128), scale=(1.0, 1.0), base_size=60, ignore_index=11, jitter=0.0)
    for _ in range(5):
        img, lab = t(image, label)
        assert img.shape == (3, 96, 128) and lab.shape == (96, 128) and lab.dtype == torch.int64
        assert set(lab.unique().tolist()) == {0, 1, 11}  # crop larger than the image: ignore padding
        white = img[0] > 1.0  # normalised white vs black
        assert torch.equal(white[lab != 11], (lab == 1)[lab != 11])  # flips and crops moved both alike
    img, lab = EvalTransform()(image, label)
    assert img.shape == (3, 60, 80) and torch.equal(lab, torch.from_numpy(label.astype(np.int64)))
