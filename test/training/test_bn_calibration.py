"""BN re-estimation gives the statistics of the data it is shown, and leaves the model in eval mode."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")  # needs torch: skipped where it is absent (a ROS install, .venv-jazzy)

import torch
from torch import nn

from training.bn_calibration import recalibrate_batchnorm
from training.ship import bn_dataset

from .test_ship import tiny_camvid


class Images(torch.utils.data.Dataset):
    def __init__(self, images: list[torch.Tensor]) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i], torch.zeros(1)


def test_running_statistics_match_the_data() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
    bn = nn.BatchNorm2d(4)
    model = nn.Sequential(conv, bn).eval()
    bn.running_mean.fill_(5.0)  # stale statistics from "training"
    images = [torch.randn(3, 8, 10) * (i + 1) + i for i in range(3)]
    used = recalibrate_batchnorm(model, Images(images), batch_size=1, progress=False)
    assert used == 3 and not model.training and not bn.training and bn.momentum == 0.1
    with torch.no_grad():
        feats = [conv(x[None]) for x in images]
    expected_mean = torch.stack([f.mean((0, 2, 3)) for f in feats]).mean(0)
    expected_var = torch.stack([f.var((0, 2, 3), unbiased=True) for f in feats]).mean(0)
    torch.testing.assert_close(bn.running_mean, expected_mean, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(bn.running_var, expected_var, rtol=1e-4, atol=1e-4)


class PooledBN(nn.Module):
    """The shape of the network's attention/global-context BN: one pooled value per image."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(nn.functional.adaptive_avg_pool2d(x, 1))


def test_pooled_statistics_are_not_collapsed_by_frames_in_sequence_order() -> None:
    # A video data set lists near-identical frames together; batches of neighbours would see no variance.
    torch.manual_seed(0)
    scenes = [torch.randn(3, 1, 1) * 2.0 + torch.randn(3, 4, 5) * 0.1 for _ in range(60)]
    images = [scene + torch.randn(3, 4, 5) * 0.01 for scene in scenes for _ in range(4)]
    model = PooledBN()
    recalibrate_batchnorm(model, Images(images), batch_size=4, progress=False)
    pooled = torch.stack([x.mean((1, 2)) for x in images])
    population_var = pooled.var(0, unbiased=True)
    ratio = model.bn.running_var / population_var
    assert torch.all(ratio > 0.7) and torch.all(ratio < 1.3), ratio
    torch.testing.assert_close(model.bn.running_mean, pooled.mean(0), rtol=0.0, atol=1e-4)


def test_ship_re_estimates_on_training_crops_or_whole_frames(camvid_root: Path, tmp_path: Path) -> None:
    data = {
        "train_splits": ["train", "val"],
        "crop": [64, 96],
        "scale": [0.5, 1.0],
        "base_size": 360,
        "ignore_index": 11,
        "jitter": 0.5,
    }
    root = tiny_camvid(camvid_root, tmp_path / "camvid")  # 2 frames per split
    frames = bn_dataset("frames", root, data)
    crops = bn_dataset("crops", root, data)
    assert len(frames) == 4 and frames[0][0].shape == (3, 360, 480)
    assert len(crops) == 8 and crops[0][0].shape == (3, 64, 96)
    assert not torch.equal(crops[0][0], crops[4][0])  # the second pass draws new crops
