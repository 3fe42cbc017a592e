"""Image-space drivable mask: class selection, morphological clean-up, restriction to the ego-connected region."""

from __future__ import annotations

import cv2
import numpy as np

from .config import DrivableConfig

DRIVABLE = 255
_FILLED = 128  # temporary flood-fill value, neither 0 nor 255


def class_mask(labels: np.ndarray, classes: tuple[int, ...]) -> np.ndarray:
    """uint8 0/255 mask of the pixels whose label is one of ``classes`` (a 256-entry table lookup)."""
    if labels.dtype != np.uint8 or labels.ndim != 2:
        raise ValueError(f"labels must be a 2-D uint8 class-id map, got {labels.dtype} {labels.shape}")
    table = np.zeros(256, dtype=np.uint8)
    table[list(classes)] = DRIVABLE
    return cv2.LUT(labels, table)


def seed_rows_cols(shape: tuple[int, int], config: DrivableConfig) -> tuple[slice, slice]:
    """The ego seed rectangle: bottom centre of the image, lifted by seed_offset (e.g. above a visible bonnet)."""
    height, width = shape
    rows = max(1, round(config.seed_height * height))
    cols = max(1, round(config.seed_width * width))
    bottom = height - round(config.seed_offset * height)
    left = (width - cols) // 2
    return slice(max(0, bottom - rows), bottom), slice(left, left + cols)


def ego_connected(mask: np.ndarray, config: DrivableConfig) -> np.ndarray:
    """Keep only the drivable regions that reach the seed rectangle (in place-free: returns a new mask).

    Flood fills from the seed are cheaper than labelling every component: the work is proportional to the
    area kept, and usually one fill covers the seed.
    """
    work = mask.copy()
    rows, cols = seed_rows_cols(mask.shape, config)
    seed = work[rows, cols]  # a view: fills show up in it
    flags = config.connectivity | cv2.FLOODFILL_FIXED_RANGE | (_FILLED << 8)
    while True:
        start = int(np.argmax(seed == DRIVABLE))
        r, c = divmod(start, seed.shape[1])
        if seed[r, c] != DRIVABLE:
            break
        cv2.floodFill(work, None, (cols.start + c, rows.start + r), _FILLED, 0, 0, flags)
    return cv2.compare(work, _FILLED, cv2.CMP_EQ)


def drivable_mask(labels: np.ndarray, config: DrivableConfig) -> np.ndarray:
    """uint8 HxW, 255 = drivable, 0 = not.

    Order matters: the opening removes specks and cuts thin bridges before the connectivity test (so a kerb or a
    median line still separates the roads), the closing fills holes afterwards and cannot reconnect anything.
    """
    mask = class_mask(labels, config.drivable_classes)
    kernel = None
    if config.morph_kernel > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (config.morph_kernel, config.morph_kernel))
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    if config.ego_connected:
        mask = ego_connected(mask, config)
    if kernel is not None:
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    return mask
