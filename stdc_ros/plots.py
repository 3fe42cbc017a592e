"""Pictures of an evaluation: per-class IoU bars, latency histogram, a strip of prediction / ground-truth overlays."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .labels import LabelSet


def _pyplot() -> Any:  # matplotlib is imported only when a plot is drawn
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_iou_bars(per_class: dict[str, float | None], path: Path, title: str) -> Path:
    plt = _pyplot()
    names = list(per_class)
    values = [0.0 if v is None or math.isnan(v) else 100 * v for v in per_class.values()]
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(names)), 4))
    bars = ax.bar(range(len(values)), values, color="#4c72b0")
    ax.bar_label(bars, labels=["n/a" if v is None else f"{100 * v:.1f}" for v in per_class.values()], fontsize=7)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set(ylabel="IoU (%)", ylim=(0, 108), title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_latency_hist(latencies_ms: Sequence[float], percentiles: dict[str, float], path: Path, title: str) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    if latencies_ms:
        ax.hist(latencies_ms, bins=min(50, max(5, len(latencies_ms) // 2)), color="#55a868")
        for name, style in (("p50", "-"), ("p90", "--"), ("p99", ":")):
            value = percentiles.get(name, float("nan"))
            if not math.isnan(value):
                ax.axvline(value, color="k", ls=style, lw=1, label=f"{name} {value:.1f} ms")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no results", ha="center", va="center", transform=ax.transAxes)
    ax.set(xlabel="latency (ms)", ylabel="frames", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def overlay(rgb: np.ndarray, labels: np.ndarray, label_set: LabelSet, alpha: float = 0.5) -> np.ndarray:
    """RGB blended with the class colours (ids without a class, such as the ignore id, stay unblended)."""
    if labels.shape != rgb.shape[:2]:
        labels = cv2.resize(labels, rgb.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    colors = label_set.palette()[labels]
    known = (labels < label_set.num_classes)[..., None]
    blended = (rgb.astype(np.float32) * (1 - alpha) + colors.astype(np.float32) * alpha).astype(np.uint8)
    return np.where(known, blended, rgb)


@dataclass
class StripFrame:
    title: str
    rgb: np.ndarray
    prediction: np.ndarray | None
    truth: np.ndarray | None


def overlays_strip(frames: Sequence[StripFrame], label_set: LabelSet, path: Path, tile_width: int = 320) -> Path:
    """One column per frame: prediction overlay on top, ground-truth overlay below; written as PNG."""
    columns = []
    for frame in frames:
        h, w = frame.rgb.shape[:2]
        size = (tile_width, max(1, round(h * tile_width / w)))
        tiles = []
        for name, labels in (("prediction", frame.prediction), ("ground truth", frame.truth)):
            tile = overlay(frame.rgb, labels, label_set) if labels is not None else frame.rgb // 3
            tile = cv2.resize(tile, size, interpolation=cv2.INTER_AREA)
            text = f"{frame.title} {name}" if labels is not None else f"{frame.title} no {name}"
            cv2.putText(tile, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(tile, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(tile)
        columns.append(np.concatenate(tiles, axis=0))
    if not columns:
        strip = np.zeros((90, tile_width, 3), np.uint8)
        cv2.putText(strip, "no frames", (10, 50), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    else:
        height = max(c.shape[0] for c in columns)
        columns = [np.pad(c, ((0, height - c.shape[0]), (0, 4), (0, 0))) for c in columns]
        strip = np.concatenate(columns, axis=1)
    cv2.imwrite(str(path), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    return path
