"""Input normalisation conventions shared by training, export and every runtime."""

from __future__ import annotations

import numpy as np

# ImageNet statistics on RGB / 255, as the STDC reference.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> float32 NCHW (1, 3, H, W), normalised."""
    x = image.astype(np.float32) * (1.0 / 255.0)
    x -= np.asarray(IMAGENET_MEAN, dtype=np.float32)
    x /= np.asarray(IMAGENET_STD, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])
