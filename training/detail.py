"""Detail ground truth: the binary boundary map that the detail head learns from the label map.

Reference recipe: a 3x3 Laplacian on the label ids at strides 1, 2 and 4, each clamped, upsampled (nearest),
binarised at 0.1, fused with weights (0.6, 0.3, 0.1) and binarised at 0.1 again. Two of its effects are
defects we deliberately do not copy:

* the Laplacian treats class ids as numbers, so a pixel between a lower and a higher class can cancel to 0,
  and the zero padding marks every non-zero class touching the image border as a boundary;
* the ignore id (the largest id) produces boundaries around every unlabelled region.

Our rule keeps the reference's intent and shape (one pixel wide, on the higher-id side of an edge) without
them: a pixel is a stride-1 boundary when it is labelled and a *labelled* 8-neighbour inside the image has a
lower class id. Ignore pixels are never boundaries and never create one; the image border is not an edge.
Strides 2 and 4 sample that map at every s-th pixel (the centres a stride-s convolution would visit) and
blow each sample up to an s x s block, as the reference's nearest upsampling does. The fuse keeps the
reference weights and threshold, so a pixel marked only at stride 4 (0.1, not > 0.1) is dropped exactly as
there: the effective target is stride-1 OR stride-2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

STRIDES = (1, 2, 4)
FUSE_WEIGHTS = (0.6, 0.3, 0.1)
THRESHOLD = 0.1


def boundary_map(labels: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """Stride-1 boundaries of ``labels`` (N, H, W) integer ids -> bool (N, H, W)."""
    lab = labels.to(torch.float32).unsqueeze(1)
    valid = labels.unsqueeze(1) != ignore_index
    # Min over the labelled 8-neighbours; unlabelled and out-of-image neighbours count as +inf.
    big = torch.finfo(torch.float32).max
    masked = torch.where(valid, lab, torch.full_like(lab, big))
    neighbour_min = -F.max_pool2d(-masked, 3, stride=1, padding=1)
    return (valid & (neighbour_min < lab)).squeeze(1)


def _at_stride(boundary: torch.Tensor, stride: int) -> torch.Tensor:
    if stride == 1:
        return boundary
    h, w = boundary.shape[-2:]
    sampled = boundary[:, ::stride, ::stride]
    blown = sampled.repeat_interleave(stride, dim=1).repeat_interleave(stride, dim=2)
    return blown[:, :h, :w]


def detail_target(
    labels: torch.Tensor,
    ignore_index: int,
    strides: tuple[int, ...] = STRIDES,
    weights: tuple[float, ...] = FUSE_WEIGHTS,
    threshold: float = THRESHOLD,
) -> torch.Tensor:
    """Binary detail target (N, 1, H, W) float32 in {0, 1} for label maps (N, H, W)."""
    if labels.dim() != 3:
        raise ValueError(f"labels must be (N, H, W), got shape {tuple(labels.shape)}")
    if len(strides) != len(weights):
        raise ValueError("one fuse weight per stride is needed")
    base = boundary_map(labels, ignore_index)
    # Sum in float64 so that the 0.1-vs-0.1 comparison of the reference weights is exact and deliberate.
    fused = torch.zeros(base.shape, dtype=torch.float64, device=labels.device)
    for stride, weight in zip(strides, weights, strict=True):
        fused += weight * _at_stride(base, stride).to(torch.float64)
    return (fused > threshold + 1e-9).to(torch.float32).unsqueeze(1)
