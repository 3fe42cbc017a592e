"""Image-space drivable IoU: the pipeline's mask (after clean-up and ego filtering) against ground-truth labels.

    python -m stdc_ros.drivable.evaluate --camvid ../shared/camvid [--split test] [--predictions DIR]

Without ``--predictions`` the ground-truth labels themselves go through the pipeline, which measures how much
drivable ground the clean-up and the ego-connected restriction drop (an upper bound for any network).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from ..image_files import read_label_map
from .config import DrivableConfig
from .mask import DRIVABLE, class_mask
from .pipeline import DrivableArea

_log = logging.getLogger(__name__)


@dataclass
class DrivableIoU:
    """Accumulates drivable-vs-not pixel counts over frames; pixels labelled ``ignore_index`` are skipped."""

    drivable_classes: tuple[int, ...]
    ignore_index: int = 255
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def update(self, mask: np.ndarray, truth: np.ndarray) -> None:
        if mask.shape != truth.shape:
            raise ValueError(f"mask {mask.shape} and truth {truth.shape} differ in shape")
        keep = truth != self.ignore_index
        predicted = (mask == DRIVABLE) & keep
        actual = class_mask(truth, self.drivable_classes) == DRIVABLE
        self.tp += int(np.count_nonzero(predicted & actual))
        self.fp += int(np.count_nonzero(predicted & ~actual))
        self.fn += int(np.count_nonzero(actual & ~predicted))

    def iou(self) -> float:
        total = self.tp + self.fp + self.fn
        return self.tp / total if total else float("nan")

    def f1(self) -> float:
        total = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / total if total else float("nan")


def camvid_pairs(root: Path, split: str) -> list[tuple[Path, Path]]:
    """(image, label) paths listed in ``root/<split>.txt``."""
    listing = root / f"{split}.txt"
    if not listing.is_file():
        raise FileNotFoundError(f"{listing} not found (see ../shared/camvid/README.md)")
    pairs = []
    for line in listing.read_text().splitlines():
        if line.strip():
            image, label = line.split()[:2]
            pairs.append((root / image, root / label))
    return pairs


def evaluate_split(
    pairs: Sequence[tuple[Path, Path]],
    config: DrivableConfig,
    ignore_index: int,
    predictions: Path | None = None,
) -> dict[str, float]:
    """IoU/F1 of the raw class mask and of the pipeline mask, for predicted (or ground-truth) labels."""
    area = DrivableArea(config)
    raw = DrivableIoU(config.drivable_classes, ignore_index)
    processed = DrivableIoU(config.drivable_classes, ignore_index)
    for _, label_path in pairs:
        truth = read_label_map(label_path, FileNotFoundError)
        source = truth if predictions is None else read_label_map(predictions / label_path.name, FileNotFoundError)
        raw.update(class_mask(source, config.drivable_classes), truth)
        processed.update(area.process(source, None, want_grid=False, want_scan=False).mask, truth)
    return {
        "frames": float(len(pairs)),
        "raw_iou": raw.iou(),
        "raw_f1": raw.f1(),
        "drivable_iou": processed.iou(),
        "drivable_f1": processed.f1(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--camvid", type=Path, default=Path("../shared/camvid"))
    parser.add_argument("--split", default="test")
    parser.add_argument("--predictions", type=Path, help="folder of predicted label PNGs named like the labels")
    parser.add_argument("--ignore-index", type=int, default=11)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="config override")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    overrides = {}
    for item in args.set:
        name, _, text = item.partition("=")
        overrides[name.strip()] = yaml.safe_load(text)
    try:
        config = DrivableConfig.from_mapping(overrides)
    except ValueError as exc:
        parser.error(str(exc))
    scores = evaluate_split(camvid_pairs(args.camvid, args.split), config, args.ignore_index, args.predictions)
    source = args.predictions or "ground truth"
    print(f"CamVid {args.split}, labels from {source}, drivable classes {list(config.drivable_classes)}:")
    for name, value in scores.items():
        print(f"  {name:>13}: {value:.4f}" if name != "frames" else f"  {name:>13}: {int(value)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
