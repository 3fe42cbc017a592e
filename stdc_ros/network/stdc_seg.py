"""STDC-Seg: STDC backbone, BiSeNet-style context path, FFM and heads (output stride 8)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .backbone import STDCBackbone
from .layers import ConvBNReLU, global_avg_pool, upsample_to


class AttentionRefinement(nn.Module):
    """ARM: 3x3 ConvBNReLU, then channel attention sigmoid(BN(conv1x1(GAP)))."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_ch, out_ch, 3)
        self.attention = nn.Sequential(nn.Conv2d(out_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv(x)
        return feat * torch.sigmoid(self.attention(global_avg_pool(feat)))


class FeatureFusion(nn.Module):
    """FFM: 1x1 ConvBNReLU on the concatenation, then a squeeze-excite style residual attention."""

    def __init__(self, in_ch: int, out_ch: int, reduction: int = 4) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_ch, out_ch, 1)
        self.attention = nn.Sequential(
            nn.Conv2d(out_ch, out_ch // reduction, 1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_ch // reduction, out_ch, 1, bias=False),
        )

    def forward(self, spatial: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        feat = self.conv(torch.cat([spatial, context], dim=1))
        return feat * torch.sigmoid(self.attention(global_avg_pool(feat))) + feat


class SegHead(nn.Module):
    """BiSeNetOutput: 3x3 ConvBNReLU then a bias-free 1x1 classifier."""

    def __init__(self, in_ch: int, mid_ch: int, n_out: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_ch, mid_ch, 3)
        self.classifier = nn.Conv2d(mid_ch, n_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.conv(x))


class ContextPath(nn.Module):
    """Global context + ARM32 -> 1/16, + ARM16 -> 1/8; returns (cp8, cp16)."""

    def __init__(self, ch16: int, ch32: int, mid: int = 128) -> None:
        super().__init__()
        self.global_context = ConvBNReLU(ch32, mid, 1)
        self.arm32 = AttentionRefinement(ch32, mid)
        self.arm16 = AttentionRefinement(ch16, mid)
        self.refine32 = ConvBNReLU(mid, mid, 3)
        self.refine16 = ConvBNReLU(mid, mid, 3)

    def forward(
        self, feat8: torch.Tensor, feat16: torch.Tensor, feat32: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        context = self.global_context(global_avg_pool(feat32))  # broadcast over the 1/32 grid
        sum32 = self.arm32(feat32) + context
        cp16 = self.refine32(upsample_to(sum32, feat16))
        sum16 = self.arm16(feat16) + cp16
        cp8 = self.refine16(upsample_to(sum16, feat8))
        return cp8, cp16


class TrainOutputs(NamedTuple):
    """Logits at input resolution, as the training losses need them."""

    main: torch.Tensor
    aux8: torch.Tensor
    aux16: torch.Tensor
    detail: torch.Tensor


class STDCSeg(nn.Module):
    """STDC1-Seg / STDC2-Seg.

    Eval mode returns the main logits (N, classes, H, W) and runs no training head.
    Train mode returns :class:`TrainOutputs` (main, two auxiliary heads, detail head), all at input size.
    Any input size works: feature maps are ceil(H / 2^k) and each upsample targets the next feature's size.
    """

    def __init__(self, num_classes: int = 19, variant: str = "stdc1") -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        self.num_classes = num_classes
        self.variant = variant
        self.backbone = STDCBackbone(variant)
        ch8, ch16, ch32 = self.backbone.out_channels
        self.context_path = ContextPath(ch16, ch32)
        self.ffm = FeatureFusion(ch8 + 128, 256)
        self.head = SegHead(256, 256, num_classes)
        # Training-only heads: never run in eval mode, so they cost nothing at inference.
        self.aux_head8 = SegHead(128, 64, num_classes)
        self.aux_head16 = SegHead(128, 64, num_classes)
        self.detail_head = SegHead(ch8, 64, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor | TrainOutputs:
        feat8, feat16, feat32 = self.backbone(x)
        cp8, cp16 = self.context_path(feat8, feat16, feat32)
        main = upsample_to(self.head(self.ffm(feat8, cp8)), x, mode="bilinear")
        if not self.training:
            return main
        return TrainOutputs(
            main=main,
            aux8=upsample_to(self.aux_head8(cp8), x, mode="bilinear"),
            aux16=upsample_to(self.aux_head16(cp16), x, mode="bilinear"),
            detail=upsample_to(self.detail_head(feat8), x, mode="bilinear"),
        )

    def training_head_parameters(self) -> list[nn.Parameter]:
        return [
            *self.aux_head8.parameters(),
            *self.aux_head16.parameters(),
            *self.detail_head.parameters(),
        ]

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters trained with the 10x learning rate in the reference recipe (FFM and heads)."""
        return [*self.ffm.parameters(), *self.head.parameters(), *self.training_head_parameters()]


def build_stdc(variant: str = "stdc1", num_classes: int = 19) -> STDCSeg:
    return STDCSeg(num_classes=num_classes, variant=variant)
