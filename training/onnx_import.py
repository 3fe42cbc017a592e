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

from stdc_ros.errors import ModelFileError
from stdc_ros.network import STDCSeg, build_stdc
from stdc_ros.runtime.conventions import ModelMetadata
from stdc_ros.runtime.engine_cache import file_sha256

log = logging.getLogger("training")

PREFIX = "network."  # the exported graph wraps the network as ``network``
TRAINING_ONLY = ("aux_head8.", "aux_head16.", "detail_head.")
CARD_CONFIG = re.compile(r"^## Config of stage (\d+)\n\n```yaml\n(.*?)\n```", re.MULTILINE | re.DOTALL)


def read_onnx_network(path: Path) -> tuple[STDCSeg, list[tuple[str, str]]]:
    """The network of an exported file with each BN folded into its conv (identity BNs), and the (conv, BN) pairs.

    ModelFileError when the file is missing, not a stdc_ros export, flip-averaged or half precision (their
    weights are not stored under the network's own names), or lacks a weight of the architecture it names.
    """
    import onnx
    from onnx import numpy_helper

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    try:
        proto = onnx.load(str(path))
    except Exception as exc:  # protobuf raises several types for truncated or foreign files
        raise ModelFileError(f"cannot read ONNX model {path}: {type(exc).__name__}: {exc}") from exc
    meta = ModelMetadata.from_props({p.key: p.value for p in proto.metadata_props}, path)
    if meta.flip_average or meta.precision != "fp32":
        raise ModelFileError(f"{path} is a flip-averaged or {meta.precision} export: import a plain fp32 one")
    weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in proto.graph.initializer}
    model = build_stdc(meta.variant, meta.num_classes).eval()
    modules = dict(model.named_modules())
    folded: list[tuple[str, str]] = []
    state = model.state_dict()
    for key in list(state):
        if key.startswith(TRAINING_ONLY) or key.endswith("num_batches_tracked"):
            continue
        owner, _, leaf = key.rpartition(".")
        if isinstance(modules[owner], nn.BatchNorm2d):
            continue  # filled below from the conv it was folded into
        name = PREFIX + key
        if name not in weights:
            raise ModelFileError(f"{path} has no weight {name} for {meta.variant}: not a plain stdc_ros export")
        if weights[name].shape != state[key].shape:
            raise ModelFileError(f"{path}: {name} has shape {tuple(weights[name].shape)}, "
                                 f"{meta.variant} expects {tuple(state[key].shape)}")  # fmt: skip
        state[key] = weights[name]
        parent, _, index = owner.rpartition(".")
        bn_name = f"{parent}.{int(index) + 1}" if index.isdigit() else ""
        if leaf == "weight" and isinstance(modules.get(bn_name), nn.BatchNorm2d):
            bias = weights.get(name + "_bias")
            if bias is None:
                raise ModelFileError(f"{path} has no folded bias {name}_bias for {bn_name}")
            bn = modules[bn_name]
            state[f"{bn_name}.weight"] = torch.full_like(bias, (1.0 + bn.eps) ** 0.5)
            state[f"{bn_name}.bias"] = bias
            state[f"{bn_name}.running_mean"] = torch.zeros_like(bias)
            state[f"{bn_name}.running_var"] = torch.ones_like(bias)
            folded.append((owner, bn_name))
    model.load_state_dict(state)
    return model, folded


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
