"""Experiment configuration: a YAML file per experiment, loaded into dataclasses, with dotted overrides."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass
class ModelConfig:
    variant: str = "stdc1"
    num_classes: int = 11


@dataclass
class DataConfig:
    dataset: str = "camvid"
    root: str = "../shared/camvid"
    train_splits: list[str] = field(default_factory=lambda: ["train", "val"])
    val_split: str = "test"
    crop: list[int] = field(default_factory=lambda: [288, 384])  # height, width
    base_size: int = 360  # shorter side the scale range refers to
    scale: list[float] = field(default_factory=lambda: [0.75, 1.5])
    jitter: float = 0.5
    ignore_index: int = 11
    workers: int = 0
    limit: int = 0  # use only the first N training samples (smoke tests); 0 = all


@dataclass
class OptimConfig:
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    head_lr_mult: float = 10.0
    warmup_iters: int = 1000
    warmup_start: float = 0.001  # warmup starts at lr * warmup_start
    power: float = 0.9


@dataclass
class LossConfig:
    use_detail: bool = True
    main: float = 1.0
    aux8: float = 1.0
    aux16: float = 1.0
    detail_bce: float = 1.0
    detail_dice: float = 1.0
    class_weights: str = "none"  # none | enet (ENet's 1/ln(1.02 + p) from training-label frequencies)


@dataclass
class TrainConfig:
    iters: int = 60000
    batch_size: int = 8  # per process
    seed: int = 0
    amp: bool = True  # CUDA only
    channels_last: bool = True
    threads: int = 0  # CPU threads; 0 = all cores
    log_interval: int = 20
    val_interval: int = 1000  # 0 = only at the end
    val_limit: int = 0  # validate on the first N samples; 0 = all
    checkpoint_interval: int = 250
    # Keep a copy of the weights every N iterations from `snapshot_after` on (snapshots/iter_NNNNNN.pt), for
    # weight averaging (training.average); 0 = none.
    snapshot_interval: int = 0
    snapshot_after: int = 0


@dataclass
class ExperimentConfig:
    name: str = "experiment"
    output: str = "runs/experiment"
    init_from: str = ""  # a training checkpoint whose weights start this run (fresh optimizer and schedule)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown config key(s) in {where or 'top level'}: {', '.join(unknown)}")
    kwargs = {}
    for name, value in values.items():
        default = getattr(cls(), name)
        if dataclasses.is_dataclass(default):
            if not isinstance(value, dict):
                raise ValueError(f"config section {where}{name} must be a mapping")
            kwargs[name] = _build(type(default), value, f"{where}{name}.")
        else:
            kwargs[name] = _coerce(value, default, f"{where}{name}")
    return cls(**kwargs)


def _coerce(value: Any, default: Any, key: str) -> Any:
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError(f"{key} must be true or false, got {value!r}")
    if isinstance(default, (int, float)) and not isinstance(value, bool):
        try:
            return type(default)(value)
        except (TypeError, ValueError):
            raise ValueError(f"{key} must be a number, got {value!r}") from None
    if isinstance(default, list):
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, list):
            raise ValueError(f"{key} must be a list, got {value!r}")
        return value
    return value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as YAML) to a raw config mapping."""
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like section.key=value")
        dotted, text = item.split("=", 1)
        node = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(text)
    return raw


def load_config(path: Path | None, overrides: list[str] | None = None) -> ExperimentConfig:
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        raw = yaml.safe_load(path.read_text()) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{path} must hold a mapping")
    raw = apply_overrides(raw, overrides or [])
    return _build(ExperimentConfig, raw, "")
