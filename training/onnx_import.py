"""Turn an exported stdc_ros ONNX file back into a trainable network (fine-tune the shipped model).

The exporter folds every BatchNorm into the convolution before it (W' = W * s, b' = beta - mean * s with
s = gamma / sqrt(var + eps)), so W, gamma and the running statistics cannot be told apart again. Any split
with the same W' and b' gives the same eval-mode network; the one chosen here also keeps train mode close to
it: with m and sigma^2 the mean and variance of W'x over training images (measured with the folded network),
W = W' / sigma, running mean m / sigma, running variance 1, gamma = sigma * sqrt(1 + eps), beta = b' + m, so
the batch statistics training sees start where the running ones are.

The auxiliary and detail heads are training-only and not exported: they start from their initialisation.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn
from torch.utils.data import Dataset

from stdc_ros.model_tools.onnx_weights import read_onnx_network
from stdc_ros.network import STDCSeg
from stdc_ros.runtime.engine_cache import file_sha256

log = logging.getLogger("training")

CARD_CONFIG = re.compile(r"^## Config of stage (\d+)\n\n```yaml\n(.*?)\n```", re.MULTILINE | re.DOTALL)


@torch.no_grad()
def unfold_batchnorm(
    model: STDCSeg,
    folded: list[tuple[str, str]],
    dataset: Dataset,
    images: int = 64,
    batch_size: int = 4,
    seed: int = 0,
) -> None:
    """Split each folded conv+BN as the module docstring says, from statistics over ``images`` training crops."""
    modules = dict(model.named_modules())
    sums: dict[str, list[torch.Tensor]] = {}

    def record(name: str):
        def hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            x = inputs[0].double()
            s = sums.setdefault(name, [torch.zeros(x.shape[1], dtype=torch.float64) for _ in range(3)])
            s[0] += x.sum(dim=(0, 2, 3))
            s[1] += (x * x).sum(dim=(0, 2, 3))
            s[2] += x.numel() / x.shape[1]

        return hook

    handles = [modules[bn].register_forward_pre_hook(record(bn)) for _, bn in folded]
    model.eval()
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:images].tolist()
    try:
        for start in range(0, len(order), batch_size):
            model(torch.stack([dataset[i][0] for i in order[start : start + batch_size]]))
    finally:
        for h in handles:
            h.remove()
    for conv_name, bn_name in folded:
        conv, bn = modules[conv_name], modules[bn_name]
        total, squares, count = sums[bn_name]
        mean = total / count
        sigma = (squares / count - mean * mean).clamp_min(1e-6).sqrt()
        # BN input is W'x + 0 (identity BN: running 0/1, gamma sqrt(1+eps)), so mean/sigma are those of W'x
        conv.weight.div_(sigma.view(-1, 1, 1, 1).to(conv.weight.dtype))
        bn.running_mean.copy_(mean / sigma)
        bn.running_var.fill_(1.0)
        bn.weight.copy_(sigma * (1.0 + bn.eps) ** 0.5)
        bn.bias.add_(mean.to(bn.bias.dtype))


def import_onnx(path: Path, dataset: Dataset, images: int = 64, seed: int = 0) -> STDCSeg:
    """A trainable network equal (in eval mode) to the one in ``path``; see the module docstring."""
    model, folded = read_onnx_network(path)
    unfold_batchnorm(model, folded, dataset, images=images, seed=seed)
    log.info("imported %s: %d folded BatchNorms split again from %d training crops", path, len(folded), images)
    return model


def card_configs(markdown: str) -> dict[int, dict[str, Any]]:
    """Stage number -> config, from the ``## Config of stage N`` YAML blocks training.ship writes in MODEL_CARD.md."""
    configs = {}
    for match in CARD_CONFIG.finditer(markdown):
        configs[int(match.group(1))] = yaml.safe_load(match.group(2))
    return configs


def onnx_lineage(path: Path) -> list[dict[str, Any]]:
    """The training stages behind an exported file, from the model card beside it (empty when unknown).

    The card must describe this very file (same sha256). Each stage's whole config comes from the card:
    ``settings`` in model_card.json (cards written since the recipe became one), else the stage's YAML block in
    MODEL_CARD.md (older cards, whose stages named config files that are gone from training/configs).
    """
    path = Path(path)
    card = path.with_name("model_card.json")
    if not card.is_file():
        return []
    info = json.loads(card.read_text())
    if info.get("sha256") != file_sha256(path):
        log.warning("%s describes another file than %s: its stages are not carried over", card, path)
        return []
    markdown = path.with_name("MODEL_CARD.md")
    written = card_configs(markdown.read_text()) if markdown.is_file() else {}
    lineage = []
    for n, stage in enumerate(info.get("stages", []), 1):
        config = stage.get("settings") or written.get(n)
        if not config or config.get("name") != stage["config"]:
            log.warning("the card of %s lacks the config of stage %d: stages are not carried over", path, n)
            return []
        lineage.append({"config": config, "iterations": int(stage["iterations"]), "elapsed": float(stage["seconds"]),
                        "segments": stage.get("segments", [])})  # fmt: skip
    return lineage
