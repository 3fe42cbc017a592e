"""Frames and label maps read from disk: one reader for the bag tools and the training data sets.

Each caller passes the error type its users expect (BagError, DatasetLayoutError); the message names the file.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def read_rgb(path: Path, error: type[Exception] = ValueError) -> np.ndarray:
    """An image file as uint8 RGB (H, W, 3)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise error(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_label_map(path: Path, error: type[Exception] = ValueError) -> np.ndarray:
    """A label map file as uint8 class ids (H, W): one 8-bit channel, read without any conversion."""
    labels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if labels is None:
        raise error(f"cannot read label map {path}")
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise error(f"label map {path} must be one 8-bit channel of class ids, found {labels.shape} {labels.dtype}")
    return labels
