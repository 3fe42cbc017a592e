"""STDC backbones (STDCNet813 = STDC1, STDCNet1446 = STDC2), segmentation features only."""

from __future__ import annotations

import torch
from torch import nn

from .layers import ConvX

STAGE_DEPTHS: dict[str, tuple[int, int, int]] = {
    "stdc1": (2, 2, 2),
    "stdc2": (4, 5, 3),
}


class STDCModule(nn.Module):
    """Short-Term Dense Concatenate module, "cat" variant with four blocks.

    Blocks produce C/2, C/4, C/8 and C/8 channels; their concatenation is the output (no residual).
    In the stride-2 form a depthwise 3x3 stride-2 conv + BN sits between block 1 and block 2, and
    block 1's own output joins the concatenation through a 3x3 stride-2 average pool.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"STDC module stride must be 1 or 2, got {stride}")
        if out_ch % 8:
            raise ValueError(f"STDC module output channels must be divisible by 8, got {out_ch}")
        half, quarter, eighth = out_ch // 2, out_ch // 4, out_ch // 8
        self.stride = stride
        self.blocks = nn.ModuleList(
            [
                ConvX(in_ch, half, kernel=1),
                ConvX(half, quarter, kernel=3),
                ConvX(quarter, eighth, kernel=3),
                ConvX(eighth, eighth, kernel=3),
            ]
        )
        if stride == 2:
            self.downsample = nn.Sequential(
                nn.Conv2d(half, half, 3, stride=2, padding=1, groups=half, bias=False),
                nn.BatchNorm2d(half),
            )
            self.skip = nn.AvgPool2d(3, stride=2, padding=1)
        else:
            self.downsample = None
            self.skip = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = self.blocks[0](x)
        out = self.downsample(first) if self.downsample is not None else first
        outputs = [self.skip(first) if self.skip is not None else first]
        for block in self.blocks[1:]:
            out = block(out)
            outputs.append(out)
        return torch.cat(outputs, dim=1)


class STDCBackbone(nn.Module):
    """Stem (two stride-2 ConvX) then three STDC stages at strides 8, 16 and 32.

    ``forward`` returns the stage outputs (feat8, feat16, feat32) with 256, 512 and 1024 channels.
    """

    def __init__(self, variant: str = "stdc1", base: int = 64) -> None:
        super().__init__()
        if variant not in STAGE_DEPTHS:
            raise ValueError(f"unknown STDC variant {variant!r}; choose from {sorted(STAGE_DEPTHS)}")
        self.variant = variant
        self.stem = nn.Sequential(ConvX(3, base // 2, 3, stride=2), ConvX(base // 2, base, 3, stride=2))
        channels = [base, base * 4, base * 8, base * 16]
        stages = []
        for depth, in_ch, out_ch in zip(STAGE_DEPTHS[variant], channels[:-1], channels[1:], strict=True):
            modules = [STDCModule(in_ch, out_ch, stride=2)]
            modules += [STDCModule(out_ch, out_ch, stride=1) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*modules))
        self.stage3, self.stage4, self.stage5 = stages
        self.out_channels = tuple(channels[1:])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        feat8 = self.stage3(self.stem(x))
        feat16 = self.stage4(feat8)
        feat32 = self.stage5(feat16)
        return feat8, feat16, feat32
