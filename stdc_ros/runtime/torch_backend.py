"""The reference backend: the checkpoint's network in eager PyTorch, on CPU or CUDA."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ..errors import InferenceError, ModelFileError
from ..network.checkpoint import load_checkpoint_model, read_checkpoint
from ..preprocessing import IMAGENET_MEAN, IMAGENET_STD
from .base import ChannelOrder, Segmentation, SegmentationRuntime
from .conventions import DEFAULT_INPUT_SIZE
from .graph import FlipAveraged, FullGraph
from .prepost import check_image

log = logging.getLogger(__name__)


def checkpoint_input_size(path: Path) -> tuple[int, int] | None:
    """The ``input_size`` a checkpoint's metadata records, if any."""
    meta = read_checkpoint(path).get("meta") or {}
    size = meta.get("input_size") if isinstance(meta, dict) else None
    if size is None:
        return None
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: malformed input_size in checkpoint metadata: {size!r}") from exc
    return h, w


class TorchSegmentation(SegmentationRuntime):
    """Eager PyTorch; the same wrapper module as the exported ``full`` graph, so it is the agreement reference."""

    backend = "torch"

    def __init__(
        self,
        model_path: Path,
        input_size: tuple[int, int] | None = None,
        device: str = "cpu",
        threads: int | None = None,
        flip_average: bool = False,
    ) -> None:
        model_path = Path(model_path)
        if model_path.suffix.lower() == ".onnx":
            raise ModelFileError(f"the torch backend needs a .pt checkpoint, not the ONNX file {model_path}")
        network = load_checkpoint_model(model_path)  # ModelFileError naming the file when missing or corrupt
        if input_size is None:
            input_size = checkpoint_input_size(model_path)
        if input_size is None:
            input_size = DEFAULT_INPUT_SIZE
            log.info("%s records no input size; using %dx%d", model_path, *input_size)
        super().__init__(model_path, (int(input_size[0]), int(input_size[1])), network.num_classes)
        try:
            self.device = torch.device(device)
        except RuntimeError as exc:
            raise ValueError(f"unknown torch device {device!r}") from exc
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InferenceError(f"torch backend asked for {device} but CUDA is not available")
        if threads:
            # torch's thread pool is process-wide; only change it when asked to.
            torch.set_num_threads(int(threads))
        self.variant = network.variant
        self.flip_average = flip_average
        if flip_average:  # the reference for exports made with --flip-average
            network = FlipAveraged(network)
        self.graph = FullGraph(network, self.input_size, IMAGENET_MEAN, IMAGENET_STD).eval().to(self.device)
        self._lock = threading.Lock()

    def _image_tensor(self, image: np.ndarray, channel_order: ChannelOrder) -> torch.Tensor:
        if channel_order not in ("rgb", "bgr"):
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
        x = torch.from_numpy(check_image(image)).to(self.device)
        if channel_order == "bgr":
            x = x.flip(-1)
        return x[None]

    def infer(self, image: np.ndarray, channel_order: ChannelOrder = "rgb", confidence: bool = False) -> Segmentation:
        x = self._image_tensor(image, channel_order)
        with self._lock, torch.inference_mode():
            labels, conf = self.graph(x)
            return Segmentation(
                labels=labels[0].cpu().numpy(),
                confidence=conf[0].cpu().numpy() if confidence else None,
            )

    def infer_with_logits(
        self, image: np.ndarray, channel_order: ChannelOrder = "rgb"
    ) -> tuple[Segmentation, np.ndarray]:
        """``infer`` with confidence, plus the (C, h, w) float32 logits at network resolution (for references)."""
        x = self._image_tensor(image, channel_order)
        with self._lock, torch.inference_mode():
            logits = self.graph.network(self.graph.preprocess(x))
            labels, conf = self.graph.postprocess(logits, x.shape[1], x.shape[2])
            return Segmentation(labels[0].cpu().numpy(), conf[0].cpu().numpy()), logits[0].float().cpu().numpy()

    def network_call(self) -> Callable[[], object]:
        x = torch.zeros((1, 3, *self.input_size), device=self.device)

        def run() -> object:
            with torch.inference_mode():
                out = self.graph.network(x)
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                return out

        return run

    def describe(self) -> str:
        h, w = self.input_size
        flip = ", flip-averaged" if self.flip_average else ""
        return f"torch ({self.device}) {self.model_path.name} {self.variant}{flip} @ {h}x{w}"
