"""Torch modules that wrap the network with the runtime contract; exported to ONNX and run eagerly by ``torch``.

Keeping one implementation for the exported graph and the torch reference means the agreement tests compare
runtimes and exporters, not two hand-written copies of the pre/post-processing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .conventions import normalisation_affine


class FullGraph(nn.Module):
    """uint8 [N, H, W, 3] RGB -> (labels uint8 [N, H, W], confidence float32 [N, H, W]).

    Bilinear resize (half-pixel centres, no antialiasing) to ``input_size``, ``x * scale + offset``
    normalisation, network, argmax and max softmax at network resolution, nearest resize back to (H, W).
    Confidence is resized nearest too, so it is always the probability of the label at the same pixel.
    """

    def __init__(
        self,
        network: nn.Module,
        input_size: tuple[int, int],
        mean: tuple[float, ...],
        std: tuple[float, ...],
    ) -> None:
        super().__init__()
        self.network = network
        self.input_size = (int(input_size[0]), int(input_size[1]))
        scale, offset = normalisation_affine(mean, std)
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("offset", torch.tensor(offset, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        x = image.permute(0, 3, 1, 2).to(self.scale.dtype)
        # Exporting: always resize (the image size is dynamic; comparing it would add a shape guard). Eager: skip
        # the identity resize when the image already has the network's size.
        if torch.compiler.is_exporting() or torch.onnx.is_in_onnx_export() or tuple(x.shape[-2:]) != self.input_size:
            x = F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False)
        return x * self.scale + self.offset

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.network(self.preprocess(image))
        return self.postprocess(logits, image.shape[1], image.shape[2])

    @staticmethod
    def postprocess(logits: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
        """[N, C, h, w] logits -> (labels uint8 [N, H, W], confidence float32 [N, H, W])."""
        labels, confidence = argmax_confidence(logits.float())
        labels = F.interpolate(labels.to(torch.uint8), size=(height, width), mode="nearest")
        confidence = F.interpolate(confidence, size=(height, width), mode="nearest")
        return labels[:, 0], confidence[:, 0]


def argmax_confidence(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[N, C, h, w] -> (argmax [N, 1, h, w] int64, max softmax [N, 1, h, w]).

    max softmax = 1 / sum(exp(l - max)): one exp per logit and no full softmax tensor kept.
    """
    top, labels = logits.max(dim=1, keepdim=True)
    confidence = torch.reciprocal(torch.exp(logits - top).sum(dim=1, keepdim=True))
    return labels, confidence


class FlipAveraged(nn.Module):
    """The network's logits averaged with those of the mirrored input, mirrored back (test-time flip).

    Same contract as the network (normalised [N, 3, h, w] in, logits out) at twice its cost; predictions become
    mirror-symmetric. Two calls on shared weights rather than one on a doubled batch, so the first convolution
    still reads the normalised image and ``network_cut.locate_network`` finds the same boundaries.
    """

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.network(x) + self.network(x.flip(-1)).flip(-1))
