"""Experiment configuration: YAML files loaded into dataclasses, with ``_base_`` inheritance and dotted overrides.

A config file may name one or more ``_base_`` files (paths relative to it, as in mmsegmentation): the bases are
merged in order, then the file's own keys on top. Mappings merge key by key; any other value (lists included)
replaces the base's. A mapping with ``_delete_: true`` replaces the base's mapping whole. ``name`` is never
inherited: it is the file's own or its stem. ``output`` defaults to ``${STDC_RUNS}/<name>``, where
``${STDC_RUNS}`` (also allowed in ``output`` and ``init_from``) is the environment variable of that name or
``~/stdc_runs``: run folders live outside the repository.
"""

from __future__ import annotations

import dataclasses
import os
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
    val_split: str = "val"  # monitoring during training: val, or a fixed subset of train; never the test split
    test_split: str = "test"  # scored once, after training, by training.evaluate / training.ship
    crop: list[int] = field(default_factory=lambda: [288, 384])  # height, width
    base_size: int = 360  # shorter side the scale range refers to
    scale: list[float] = field(default_factory=lambda: [0.75, 1.5])
    jitter: float = 0.5
    ignore_index: int = 11
    workers: int = 0  # DataLoader worker processes (0: augment in the training process)
    prefetch: int = 2  # batches each worker prepares ahead
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
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (training.precision: bf16 on capable CPUs, fp16 on CUDA)
    channels_last: bool = True
    threads: int = 0  # CPU threads; 0 = all cores
    log_interval: int = 20
    val_interval: int = 1000  # 0 = only at the end
    val_limit: int = 0  # validate on N frames spread evenly over the split (a fixed subset); 0 = all
    checkpoint_interval: int = 250
    # Keep a copy of the weights every N iterations from `snapshot_after` on (snapshots/iter_NNNNNN.pt), for
    # weight averaging (training.average); 0 = none.
    snapshot_interval: int = 0
    snapshot_after: int = 0


@dataclass
class ExperimentConfig:
    name: str = "experiment"
    output: str = "runs/experiment"
    init_from: str = ""  # a training checkpoint or exported .onnx whose weights start this run (fresh optimizer)
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


RUNS_VARIABLE = "STDC_RUNS"
RUNS_DEFAULT = "~/stdc_runs"
BASE_KEY, DELETE_KEY = "_base_", "_delete_"


def runs_root() -> Path:
    """Where run folders go by default: ``$STDC_RUNS``, else ``~/stdc_runs`` (outside the repository)."""
    return Path(os.path.expanduser(os.environ.get(RUNS_VARIABLE) or RUNS_DEFAULT))


def expand_path(text: str) -> str:
    """``${STDC_RUNS}`` / ``$STDC_RUNS`` replaced by :func:`runs_root`, and ``~`` expanded."""
    if not text:
        return text
    root = str(runs_root())
    text = text.replace("${" + RUNS_VARIABLE + "}", root).replace("$" + RUNS_VARIABLE, root)
    return os.path.expanduser(text)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base`` (neither is changed): mappings merge, other values replace."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict):
            value = dict(value)
            if value.pop(DELETE_KEY, False) or not isinstance(out.get(key), dict):
                out[key] = merge({}, value)
            else:
                out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def read_raw(path: Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file's mapping with its ``_base_`` files merged in (``name`` not inherited: see module doc)."""
    path = Path(path).resolve()
    if path in _chain:
        cycle = " -> ".join(p.name for p in (*_chain, path))
        raise ValueError(f"config _base_ cycle: {cycle}")
    if not path.is_file():
        where = f" (_base_ of {_chain[-1]})" if _chain else ""
        raise FileNotFoundError(f"config file not found: {path}{where}")
    own = yaml.safe_load(path.read_text()) or {}
    if not isinstance(own, dict):
        raise ValueError(f"{path} must hold a mapping")
    bases = own.pop(BASE_KEY, [])
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ValueError(f"{path}: {BASE_KEY} must be a file name or a list of them")
    raw: dict[str, Any] = {}
    for base in bases:
        inherited = read_raw(path.parent / base, (*_chain, path))
        inherited.pop("name", None)
        raw = merge(raw, inherited)
    raw = merge(raw, own)
    raw.setdefault("name", path.stem)
    return raw


def load_config(path: Path | None, overrides: list[str] | None = None) -> ExperimentConfig:
    raw: dict[str, Any] = {}
    if path is not None:
        raw = read_raw(Path(path))
    raw = apply_overrides(raw, overrides or [])
    if path is not None and "output" not in raw:
        raw["output"] = f"${{{RUNS_VARIABLE}}}/{raw['name']}"
    cfg = _build(ExperimentConfig, raw, "")
    cfg.output = expand_path(cfg.output)
    cfg.init_from = expand_path(cfg.init_from)
    return cfg
