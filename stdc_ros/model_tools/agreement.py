"""Label agreement between two runtimes on real frames (used by `stdc-ros export` and the agreement tests).

A random-weight or barely trained model has near-tied logits: the top two classes can differ by 1e-6 in
probability, so float rounding alone (fused kernels, another summation order, uint8 vs float resize) flips the
argmax on many pixels. Counting those flips says nothing about whether the export is right. So agreement is
measured on pixels whose top-2 softmax margin in the reference exceeds ``margin`` and, separately, overall.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..image_files import read_rgb
from ..runtime.base import Segmentation, SegmentationRuntime

log = logging.getLogger(__name__)

DEFAULT_MARGIN = 1e-3  # top-2 softmax probability gap; float32 noise in logits stays far below this


@dataclass
class AgreementReport:
    pixels: int = 0
    agree: int = 0
    confident_pixels: int = 0  # pixels whose reference top-2 margin exceeds the threshold
    confident_agree: int = 0
    max_confidence_error: float = 0.0  # max |conf_a - conf_b| where both chose the same label

    @property
    def overall(self) -> float:
        return self.agree / self.pixels if self.pixels else float("nan")

    @property
    def confident(self) -> float:
        return self.confident_agree / self.confident_pixels if self.confident_pixels else float("nan")

    def add(self, a: np.ndarray, b: np.ndarray, confident_mask: np.ndarray | None = None) -> None:
        same = a == b
        self.pixels += same.size
        self.agree += int(same.sum())
        if confident_mask is not None:
            self.confident_pixels += int(confident_mask.sum())
            self.confident_agree += int((same & confident_mask).sum())

    def summary(self) -> str:
        return (
            f"labels agree on {100 * self.overall:.3f}% of {self.pixels} pixels; "
            f"{100 * self.confident:.3f}% of the {self.confident_pixels} pixels with a clear top-2 margin; "
            f"max confidence difference {self.max_confidence_error:.2e}"
        )


def camvid_split_images(root: Path, split: str) -> list[Path]:
    """The image paths a CamVid split lists, in order (layout of shared/camvid: ``<split>.txt`` of IMAGE LABEL)."""
    listing = Path(root) / f"{split}.txt"
    if not listing.is_file():
        raise FileNotFoundError(f"CamVid list file not found: {listing}")
    names = [line.split()[0].lstrip("/") for line in listing.read_text().splitlines() if line.strip()]
    if not names:
        raise FileNotFoundError(f"{listing} lists no frames")
    return [Path(root) / name for name in names]


def load_camvid_frames(root: Path, count: int = 6, split: str = "test") -> list[tuple[str, np.ndarray]]:
    """``count`` RGB frames spread over a CamVid split."""
    paths = camvid_split_images(root, split)
    picks = np.linspace(0, len(paths) - 1, min(count, len(paths))).astype(int)
    return [(paths[int(i)].stem, read_rgb(paths[int(i)], FileNotFoundError)) for i in picks]


def top2_margin(logits: np.ndarray) -> np.ndarray:
    """(C, h, w) logits -> (h, w) softmax probability gap between the best and second-best class."""
    shifted = np.exp(logits - logits.max(axis=0, keepdims=True))
    probs = shifted / shifted.sum(axis=0, keepdims=True)
    top2 = np.partition(probs, -2, axis=0)[-2:]
    return top2[1] - top2[0]


@dataclass
class Reference:
    """What the reference (torch) produced for one frame: labels, confidence and top-2 margins, at frame size."""

    segmentation: Segmentation
    margin: np.ndarray


def torch_references(reference: SegmentationRuntime, frames: list[np.ndarray]) -> list[Reference]:
    """Run the torch reference once per frame (it is the slow part of every agreement check)."""
    from ..runtime.prepost import NearestResizer

    resize = NearestResizer()
    out = []
    for frame in frames:
        seg, logits = reference.infer_with_logits(frame)  # type: ignore[attr-defined]
        out.append(Reference(seg, resize(top2_margin(logits), frame.shape[:2])))
    return out


def compare(
    references: list[Reference],
    candidate: SegmentationRuntime,
    frames: list[np.ndarray],
    margin: float = DEFAULT_MARGIN,
) -> AgreementReport:
    """Run ``candidate`` on ``frames`` and compare with the reference results of the same frames."""
    report = AgreementReport()
    for ref, frame in zip(references, frames, strict=True):
        a = ref.segmentation
        b = candidate.infer(frame, confidence=True)
        report.add(a.labels, b.labels, ref.margin > margin)
        if a.confidence is not None and b.confidence is not None:
            same = a.labels == b.labels
            if same.any():
                err = float(np.abs(a.confidence[same] - b.confidence[same]).max())
                report.max_confidence_error = max(report.max_confidence_error, err)
    log.debug("agreement of %s with the reference: %s", candidate.describe(), report.summary())
    return report
