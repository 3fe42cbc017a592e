"""The one interface every inference backend offers: image in, class-id map at the image's resolution out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

ChannelOrder = Literal["rgb", "bgr"]


@dataclass
class Segmentation:
    """Result of one inference, at the resolution of the image that was given."""

    labels: np.ndarray  # uint8 (H, W) class ids
    confidence: np.ndarray | None = None  # float32 (H, W) softmax probability of the chosen class


class SegmentationRuntime(ABC):
    """Backends resize to the network input, normalise, run, argmax and resize back, so callers never do.

    ``infer`` takes uint8 (H, W, 3) in ``channel_order`` (default RGB) and returns labels at (H, W).
    Implementations must be safe to call from one thread at a time (a ROS callback or worker thread).
    """

    backend: str = "base"

    def __init__(self, model_path: Path, input_size: tuple[int, int], num_classes: int) -> None:
        self.model_path = Path(model_path)
        self.input_size = input_size  # (height, width) the network runs at
        self.num_classes = num_classes

    @abstractmethod
    def infer(self, image: np.ndarray, channel_order: ChannelOrder = "rgb", confidence: bool = False) -> Segmentation:
        """Segment one image."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free the backend's resources (sessions, engines, device memory)."""

    def network_call(self) -> Callable[[], object] | None:
        """A callable that runs only the network once on a prepared input (for benchmarks), or None when the
        backend cannot run the network apart from its pre/post-processing (an ONNX ``full`` graph)."""
        return None

    def describe(self) -> str:
        h, w = self.input_size
        return f"{self.backend} {self.model_path.name} @ {h}x{w}"

    def __enter__(self) -> SegmentationRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
