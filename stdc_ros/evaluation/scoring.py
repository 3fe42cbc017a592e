"""Scores of an evaluation: confusion matrix over matched frames, latency percentiles, per-frame records."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..labels import LabelSet
from ..metrics import ConfusionMatrix

LOG = logging.getLogger(__name__)


@dataclass
class FrameRecord:
    """What happened to one input frame."""

    index: int
    stamp_ns: int
    status: str = "pending"  # scored | no_gt | dropped | failed
    latency_ms: float | None = None
    pixel_accuracy: float | None = None
    reason: str = ""


class Scorer:
    """Accumulates predictions against ground truth with the label set's classes, ignore id and drivable ids."""

    def __init__(self, label_set: LabelSet) -> None:
        self.label_set = label_set
        self.cm = ConfusionMatrix(label_set.num_classes, label_set.ignore_index)
        self.frames = 0
        self.resized = 0

    def add(self, prediction: np.ndarray, truth: np.ndarray) -> float:
        """Score one frame; returns its pixel accuracy. A prediction of another size is resized (nearest)."""
        if prediction.shape != truth.shape:
            if self.resized == 0:
                LOG.warning(
                    "prediction %s and ground truth %s differ in size; resizing predictions (nearest)",
                    prediction.shape,
                    truth.shape,
                )
            self.resized += 1
            prediction = cv2.resize(prediction, truth.shape[::-1], interpolation=cv2.INTER_NEAREST)
        frame = ConfusionMatrix(self.label_set.num_classes, self.label_set.ignore_index)
        frame.update(prediction, truth)
        self.cm.merge(frame)
        self.frames += 1
        return frame.pixel_accuracy()

    def summary(self) -> dict:
        iou = self.cm.iou()
        drivable_iou, drivable_f1 = (
            self.cm.binary(self.label_set.drivable) if self.label_set.drivable else (nan(), nan())
        )
        return {
            "miou": self.cm.miou(),
            "pixel_accuracy": self.cm.pixel_accuracy(),
            "drivable_iou": drivable_iou,
            "drivable_f1": drivable_f1,
            "per_class_iou": {n: (None if math.isnan(v) else float(v)) for n, v in zip(self.label_set.names, iou)},
            "confusion_matrix": self.cm.matrix.tolist(),
            "scored_frames": self.frames,
            "resized_predictions": self.resized,
        }


def nan() -> float:
    return float("nan")


def latency_stats(latencies_ms: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/mean/max in ms (NaN when there is no sample)."""
    if not latencies_ms:
        return {k: nan() for k in ("p50", "p90", "p99", "mean", "max")}
    values = np.asarray(latencies_ms, dtype=np.float64)
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {
        "p50": float(p50),
        "p90": float(p90),
        "p99": float(p99),
        "mean": float(values.mean()),
        "max": float(values.max()),
    }
