"""Segmentation scores from a confusion matrix: per-class IoU, mIoU, pixel accuracy, binary IoU/F1."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ConfusionMatrix:
    """Accumulates a (classes x classes) matrix, rows = ground truth, columns = prediction."""

    num_classes: int
    ignore_index: int
    matrix: np.ndarray = field(init=False)
    missed: np.ndarray = field(init=False)  # per true class: predictions outside 0..num_classes-1

    def __post_init__(self) -> None:
        self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        self.missed = np.zeros(self.num_classes, dtype=np.int64)

    def update(self, prediction: np.ndarray, truth: np.ndarray) -> None:
        prediction, truth = np.asarray(prediction), np.asarray(truth)
        if prediction.shape != truth.shape:
            raise ValueError(f"prediction {prediction.shape} and truth {truth.shape} differ in shape")
        keep = (truth != self.ignore_index) & (truth < self.num_classes)
        t = truth[keep].astype(np.int64)
        p = prediction[keep].astype(np.int64)
        p = np.where((p >= 0) & (p < self.num_classes), p, self.num_classes)  # out of range: always wrong
        n = self.num_classes
        counts = np.bincount(t * (n + 1) + p, minlength=n * (n + 1)).reshape(n, n + 1)
        self.matrix += counts[:, :n]
        self.missed += counts[:, n]

    def merge(self, other: ConfusionMatrix) -> None:
        self.matrix += other.matrix
        self.missed += other.missed

    def iou(self) -> np.ndarray:
        """Per-class IoU; NaN for a class absent from both truth and prediction."""
        tp = np.diag(self.matrix).astype(np.float64)
        union = self.matrix.sum(0) + self.matrix.sum(1) + self.missed - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, tp / union, np.nan)

    def miou(self) -> float:
        return float(np.nanmean(self.iou())) if np.any(~np.isnan(self.iou())) else float("nan")

    def pixel_accuracy(self) -> float:
        total = self.matrix.sum() + self.missed.sum()
        return float(np.trace(self.matrix) / total) if total else float("nan")

    def binary(self, positive: Sequence[int]) -> tuple[float, float]:
        """(IoU, F1) of the union of ``positive`` classes against the rest (labelled pixels only)."""
        pos = np.zeros(self.num_classes, dtype=bool)
        pos[list(positive)] = True
        tp = self.matrix[np.ix_(pos, pos)].sum()
        fn = self.matrix[np.ix_(pos, ~pos)].sum() + self.missed[pos].sum()
        fp = self.matrix[np.ix_(~pos, pos)].sum()
        iou = tp / (tp + fp + fn) if tp + fp + fn else float("nan")
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
        return float(iou), float(f1)
