"""The torch network of an exported stdc_ros ONNX file: its weights read back under the network's own names.

The exporter folds every BatchNorm into the convolution before it, so each BN comes back as an identity (running
mean 0, variance 1, gamma sqrt(1 + eps)) with the folded bias: the same eval-mode network. Inference from it needs
nothing more; training splits the folds again (training.onnx_import). The auxiliary and detail heads are
training-only and not exported: they keep their initialisation.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import ModelFileError
from ..network import STDCSeg, build_stdc
from ..runtime.conventions import ModelMetadata

PREFIX = "network."  # the exported graph wraps the network as ``network``
TRAINING_ONLY = ("aux_head8.", "aux_head16.", "detail_head.")


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
