"""Class weights from label frequencies, so rare thin classes (pole, sign, pedestrian) count in the loss."""

from __future__ import annotations

import numpy as np
import torch

from .datasets import SegmentationDataset

ENET_C = 1.02  # ENet (Paszke et al. 2016): w = 1 / ln(c + p); c bounds the weight of the rarest class


def class_frequencies(dataset: SegmentationDataset) -> np.ndarray:
    """Share of each class among the labelled pixels of ``dataset`` (ignore excluded)."""
    counts = np.zeros(dataset.num_classes, dtype=np.int64)
    for index in range(len(dataset)):
        _, label = dataset.load(index)
        counts += np.bincount(label.ravel(), minlength=dataset.num_classes + 1)[: dataset.num_classes]
    total = counts.sum()
    if total == 0:
        raise ValueError("the training set has no labelled pixels")
    return counts / total


def enet_weights(frequencies: np.ndarray, c: float = ENET_C) -> torch.Tensor:
    """ENet weights, scaled so the pixel-weighted mean weight is 1 (the loss keeps its usual size)."""
    weights = 1.0 / np.log(c + np.asarray(frequencies, dtype=np.float64))
    weights /= float((weights * frequencies).sum())
    return torch.tensor(weights, dtype=torch.float32)


def build_class_weights(kind: str, dataset: SegmentationDataset) -> torch.Tensor | None:
    if kind == "none":
        return None
    if kind == "enet":
        return enet_weights(class_frequencies(dataset))
    raise ValueError(f"loss.class_weights must be none or enet, got {kind!r}")
