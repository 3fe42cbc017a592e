"""Calibration data for static quantization: CamVid frames through the runtime's own pre-processing.

The frames come from a training split only (never ``test``, which scores the result), resized and normalised by
the same ``Preprocessor`` the onnxruntime backend runs in front of the network, so the ranges are measured on the
very inputs the quantized network will see.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader

from ..image_files import read_rgb
from ..runtime.prepost import Preprocessor
from .agreement import camvid_split_images

log = logging.getLogger(__name__)

FORBIDDEN_SPLITS = ("test",)  # the split the model is scored on


def calibration_images(root: Path, count: int, split: str = "train") -> list[Path]:
    """``count`` image paths spread evenly over a CamVid split (``<split>.txt`` of ``IMAGE LABEL`` lines)."""
    if split in FORBIDDEN_SPLITS:
        raise ValueError(f"calibration must not see the {split} split: it is the one the model is scored on")
    if count < 1:
        raise ValueError(f"need at least one calibration frame, got {count}")
    paths = camvid_split_images(root, split)
    if count > len(paths):
        raise ValueError(f"{Path(root) / split}.txt lists {len(paths)} frames, {count} asked for")
    picks = np.linspace(0, len(paths) - 1, count).round().astype(int)
    return [paths[int(i)] for i in picks]


class FrameReader(CalibrationDataReader):
    """Feeds each image once, pre-processed, as ``{input_name: float32 [1, 3, h, w]}``; shows progress.

    Supports ``set_range`` so ONNX Runtime can calibrate in strides (``CalibStridedMinMax``), which keeps the
    histogram calibrators from holding every frame's activations at once.
    """

    def __init__(
        self,
        images: Sequence[Path],
        input_name: str,
        input_size: tuple[int, int],
        mean: tuple[float, ...],
        std: tuple[float, ...],
        progress: bool = True,
    ) -> None:
        from tqdm import tqdm

        self.images = list(images)
        self.input_name = input_name
        self._pre = Preprocessor(input_size, mean, std)
        self._start, self._end = 0, len(self.images)
        self._next = 0
        self._bar = tqdm(total=len(self.images), desc="calibrate", unit="frame", disable=not progress)

    def __len__(self) -> int:
        return len(self.images)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._start, self._end = start_index, min(end_index, len(self.images))
        self._next = self._start

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= self._end:
            return None
        image = read_rgb(self.images[self._next], FileNotFoundError)
        self._next += 1
        self._bar.update(1)
        return {self.input_name: self._pre(image, "rgb").copy()}  # the preprocessor reuses its buffer

    def rewind(self) -> None:
        self.set_range(0, len(self.images))

    def close(self) -> None:
        self._bar.close()
