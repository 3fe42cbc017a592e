"""Model checkpoints: weights plus the few facts needed to rebuild the network, loaded without pickle code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import ModelFileError
from .stdc_seg import STDCSeg, build_stdc

FORMAT = "stdc_ros.model/1"


def save_model_checkpoint(model: STDCSeg, path: Path, **meta: Any) -> None:
    """Write the weights and architecture of ``model`` (extra ``meta`` must be plain data)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "variant": model.variant,
        "num_classes": model.num_classes,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": meta,
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint dictionary with ``weights_only=True`` (no code from the file is executed)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise ModelFileError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(payload, dict):
        raise ModelFileError(f"{path} is not a stdc_ros checkpoint (found {type(payload).__name__})")
    return payload


def load_checkpoint_model(path: Path) -> STDCSeg:
    """Rebuild the network stored in ``path`` (our format, or a training checkpoint holding one)."""
    payload = read_checkpoint(path)
    if payload.get("format") != FORMAT and "model_checkpoint" in payload:
        payload = payload["model_checkpoint"]
    if payload.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a stdc_ros model checkpoint (format {payload.get('format')!r})")
    try:
        model = build_stdc(payload["variant"], int(payload["num_classes"]))
        model.load_state_dict(payload["model"])
    except (KeyError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path} does not match the STDC architecture it names: {exc}") from exc
    return model.eval()
