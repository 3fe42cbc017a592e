"""Basic building blocks shared by the STDC backbone and the segmentation head."""

from __future__ import annotations

import torch
from torch import nn


class ConvBNReLU(nn.Sequential):
    """Conv2d (no bias) + BatchNorm2d + ReLU; the paper's ConvX and the head's ConvBNReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel, stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )


# The STDC paper calls the same block ConvX.
ConvX = ConvBNReLU


def global_avg_pool(x: torch.Tensor) -> torch.Tensor:
    # Adaptive pooling keeps the graph free of input-size constants (ONNX GlobalAveragePool).
    return nn.functional.adaptive_avg_pool2d(x, 1)


def upsample_to(x: torch.Tensor, like: torch.Tensor, mode: str = "nearest") -> torch.Tensor:
    """Resize ``x`` to the spatial size of ``like`` (sizes need not be exact multiples)."""
    size = like.shape[-2:]
    if mode == "nearest":
        return nn.functional.interpolate(x, size=size, mode="nearest")
    return nn.functional.interpolate(x, size=size, mode=mode, align_corners=True)
