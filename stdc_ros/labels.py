"""Label sets (class names, display colours, drivable classes) read from YAML files in config/labels/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from .resources import find_share_file


@dataclass(frozen=True)
class LabelSet:
    name: str
    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]  # RGB
    ignore_index: int
    drivable: tuple[int, ...]

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def palette(self) -> np.ndarray:
        """(256, 3) uint8 RGB lookup table; ids without a class are black."""
        lut = np.zeros((256, 3), dtype=np.uint8)
        lut[: self.num_classes] = np.asarray(self.colors, dtype=np.uint8)
        return lut


def load_label_set(name_or_path: str | Path) -> LabelSet:
    """A label set by name (``camvid``, ``cityscapes``) or from a YAML file path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = find_share_file(Path("config") / "labels" / f"{name_or_path}.yaml")
    if not path.is_file():
        raise FileNotFoundError(f"label file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:  # also a Python tag: safe_load refuses it without running anything
        raise ValueError(f"{path}: not a valid label YAML ({exc})") from exc
    try:
        classes = data["classes"]
        names = tuple(str(c["name"]) for c in classes)
        colors = tuple(tuple(int(v) for v in c["color"]) for c in classes)
        drivable = tuple(int(i) for i in data.get("drivable", []))
        ignore = int(data.get("ignore_index", 255))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: malformed label file ({exc})") from exc
    if any(len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in colors):
        raise ValueError(f"{path}: every colour must be three values in 0..255")
    if any(not 0 <= i < len(names) for i in drivable):
        raise ValueError(f"{path}: drivable ids must be class ids below {len(names)}")
    return LabelSet(str(data.get("name", path.stem)), names, colors, ignore, drivable)
