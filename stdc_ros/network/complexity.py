"""A small hook-based counter of multiply-accumulates (conv and linear layers) and parameters."""

from __future__ import annotations

import torch
from torch import nn


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def count_macs(model: nn.Module, input_shape: tuple[int, int, int, int]) -> int:
    """MACs of every Conv2d and Linear that runs in one forward pass of ``model`` as it is (train/eval)."""
    total = 0

    def conv_hook(module: nn.Conv2d, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += output.numel() * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() * module.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            device = next(model.parameters()).device  # works on the meta device too (shapes only)
            model(torch.zeros(input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
    return total
