"""Pictures of training and evaluation: loss/mIoU curves and the confusion matrix.

Per-class IoU bars are drawn by stdc_ros.plots.plot_iou_bars, shared with the bag evaluation."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def _read_csv(path: Path) -> dict[str, list[float]]:
    if not path.exists():
        return {}
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in rows[0]} if rows else {}


def plot_curves(run_dir: Path) -> Path:
    """``curves.png`` in ``run_dir``: training loss terms and validation mIoU against iterations."""
    train, val = _read_csv(run_dir / "train_log.csv"), _read_csv(run_dir / "val_log.csv")
    fig, (ax_loss, ax_miou) = plt.subplots(1, 2, figsize=(11, 4))
    for key in ("loss", "main", "aux8", "aux16", "detail_bce", "detail_dice"):
        if key in train:
            ax_loss.plot(train["iteration"], train[key], label=key, lw=1.5 if key == "loss" else 0.8)
    ax_loss.set(xlabel="iteration", ylabel="loss", title="training loss", yscale="log")
    ax_loss.legend(fontsize=7)
    if val:
        ax_miou.plot(val["iteration"], [100 * v for v in val["miou"]], marker="o")
    ax_miou.set(xlabel="iteration", ylabel="mIoU (%)", title="validation mIoU")
    ax_miou.grid(alpha=0.3)
    fig.tight_layout()
    out = run_dir / "curves.png"
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def plot_confusion(matrix: np.ndarray, names: Sequence[str], path: Path, title: str) -> Path:
    """Row-normalised confusion matrix (rows: ground truth)."""
    rows = matrix.sum(1, keepdims=True)
    norm = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=np.float64), where=rows > 0)
    fig, ax = plt.subplots(figsize=(0.55 * len(names) + 3, 0.55 * len(names) + 2))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            if norm[i, j] >= 0.01:
                ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if norm[i, j] > 0.5 else "black")  # fmt: skip
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set(xlabel="prediction", ylabel="ground truth", title=title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
