"""CamVid (11 classes, list files) and Cityscapes (labelIds -> 19 train ids) segmentation datasets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from stdc_ros.image_files import read_label_map, read_rgb

CAMVID_IGNORE = 11
CITYSCAPES_IGNORE = 255


class DatasetLayoutError(FileNotFoundError):
    """The dataset folder does not have the expected layout; the message names what is missing."""


Sample = tuple[np.ndarray, np.ndarray, str]
Transform = Callable[[np.ndarray, np.ndarray], tuple[torch.Tensor, torch.Tensor]]


class SegmentationDataset(Dataset):
    """Pairs of (RGB image, label map) files; ``transform`` turns a pair into tensors."""

    ignore_index: int
    num_classes: int

    def __init__(self, pairs: list[tuple[Path, Path]], transform: Transform | None, cache: bool) -> None:
        if not pairs:
            raise DatasetLayoutError("the dataset has no samples")
        for image, label in pairs:
            for path in (image, label):
                if not path.is_file():
                    raise DatasetLayoutError(f"missing dataset file {path}")
        self.pairs = pairs
        self.transform = transform
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.pairs)

    def name(self, index: int) -> str:
        return self.pairs[index][0].stem

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Decoded RGB uint8 (H, W, 3) and label ids uint8 (H, W) of one sample."""
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        image_path, label_path = self.pairs[index]
        image = read_rgb(image_path, DatasetLayoutError)
        label = self.map_label(read_label_map(label_path, DatasetLayoutError))
        if image.shape[:2] != label.shape:
            raise DatasetLayoutError(f"{image_path} and {label_path} differ in size")
        if self._cache is not None:
            self._cache[index] = (image, label)
        return image, label

    def preload(self) -> None:
        """Decode every sample into the cache now (no-op without a cache)."""
        if self._cache is not None:
            for index in range(len(self)):
                self.load(index)

    def map_label(self, label: np.ndarray) -> np.ndarray:
        return label.astype(np.uint8)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, label = self.load(index)
        if self.transform is None:
            return torch.from_numpy(image).permute(2, 0, 1), torch.from_numpy(label.astype(np.int64))
        return self.transform(image, label)


class CamVid(SegmentationDataset):
    """CamVid 11-class split as in ``shared/camvid``: ``<split>.txt`` lists ``IMAGE LABEL`` per line."""

    ignore_index = CAMVID_IGNORE
    num_classes = 11

    def __init__(
        self, root: Path, splits: Sequence[str], transform: Transform | None = None, cache: bool = True
    ) -> None:
        root = Path(root)
        if not root.is_dir():
            raise DatasetLayoutError(f"CamVid folder not found: {root}")
        pairs: list[tuple[Path, Path]] = []
        for split in splits:
            listing = root / f"{split}.txt"
            if not listing.is_file():
                raise DatasetLayoutError(f"CamVid list file not found: {listing}")
            for n, line in enumerate(listing.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                parts = line.split()
                if len(parts) != 2:
                    raise DatasetLayoutError(f"{listing}:{n}: expected 'IMAGE LABEL', got {line!r}")
                pairs.append((root / parts[0].lstrip("/"), root / parts[1].lstrip("/")))
        super().__init__(pairs, transform, cache)

    def map_label(self, label: np.ndarray) -> np.ndarray:
        out = label.astype(np.uint8).copy()
        out[out > CAMVID_IGNORE] = CAMVID_IGNORE
        return out


# Cityscapes labelIds -> train ids (19 classes, others ignored), from the official labels table.
CITYSCAPES_LABEL_TO_TRAIN = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
    23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}  # fmt: skip


class Cityscapes(SegmentationDataset):
    """Cityscapes standard layout: ``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` and
    ``gtFine/<split>/<city>/*_gtFine_labelIds.png``."""

    ignore_index = CITYSCAPES_IGNORE
    num_classes = 19

    def __init__(
        self, root: Path, splits: Sequence[str], transform: Transform | None = None, cache: bool = False
    ) -> None:
        root = Path(root)
        pairs: list[tuple[Path, Path]] = []
        for split in splits:
            image_dir = root / "leftImg8bit" / split
            if not image_dir.is_dir():
                raise DatasetLayoutError(f"Cityscapes image folder not found: {image_dir}")
            for image in sorted(image_dir.glob("*/*_leftImg8bit.png")):
                stem = image.name.removesuffix("_leftImg8bit.png")
                label = root / "gtFine" / split / image.parent.name / f"{stem}_gtFine_labelIds.png"
                pairs.append((image, label))
        self._lut = np.full(256, CITYSCAPES_IGNORE, dtype=np.uint8)
        for label_id, train_id in CITYSCAPES_LABEL_TO_TRAIN.items():
            self._lut[label_id] = train_id
        super().__init__(pairs, transform, cache)

    def map_label(self, label: np.ndarray) -> np.ndarray:
        return self._lut[label.astype(np.uint8)]


def build_dataset(
    name: str, root: Path, splits: Sequence[str], transform: Transform | None = None, cache: bool = True
) -> SegmentationDataset:
    if name == "camvid":
        return CamVid(root, splits, transform, cache)
    if name == "cityscapes":
        return Cityscapes(root, splits, transform, cache=False)
    raise ValueError(f"unknown dataset {name!r}; choose camvid or cityscapes")
