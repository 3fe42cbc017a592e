"""Joint image/label augmentation with torchvision transforms v2 (labels travel as tv_tensors.Mask)."""

from __future__ import annotations

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from stdc_ros.preprocessing import IMAGENET_MEAN, IMAGENET_STD


def _to_tv(image: np.ndarray, label: np.ndarray) -> tuple[tv_tensors.Image, tv_tensors.Mask]:
    return (
        tv_tensors.Image(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)),
        tv_tensors.Mask(torch.from_numpy(np.ascontiguousarray(label))),
    )


class TrainTransform:
    """Random scale, crop (image padded with 0, label with ignore), flip, colour jitter, normalise."""

    def __init__(
        self,
        crop: tuple[int, int],
        scale: tuple[float, float],
        base_size: int,
        ignore_index: int,
        jitter: float = 0.5,
    ) -> None:
        lo, hi = (max(1, round(base_size * s)) for s in scale)
        self.pipeline = v2.Compose(
            [
                v2.RandomResize(lo, hi + 1),  # shorter side drawn in [lo, hi]
                v2.RandomCrop(crop, pad_if_needed=True, fill={tv_tensors.Mask: ignore_index, "others": 0}),
                v2.RandomHorizontalFlip(),
                v2.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter),
                v2.ToDtype({tv_tensors.Image: torch.float32, "others": None}, scale=True),
                v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
            ]
        )

    def __call__(self, image: np.ndarray, label: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        img, mask = self.pipeline(*_to_tv(image, label))
        return img.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor).long()


class EvalTransform:
    """Normalise only; the label stays at full resolution."""

    def __call__(self, image: np.ndarray, label: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        img = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255.0)
        img = v2.functional.normalize(img, IMAGENET_MEAN, IMAGENET_STD)
        return img, torch.from_numpy(label.astype(np.int64))
