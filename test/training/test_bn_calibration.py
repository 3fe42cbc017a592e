"""BN re-estimation gives the statistics of the data it is shown, and leaves the model in eval mode."""

from __future__ import annotations

import torch
from torch import nn

from training.bn_calibration import recalibrate_batchnorm


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
