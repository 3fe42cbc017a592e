"""A training checkpoint carried between machines in parts of a bounded size (a lent GPU machine returns files of
at most 16 MiB each, 64 MiB in all; STDC1's full state, weights plus SGD momentum, is about 70 MB).

``write_handoff`` stores the state with the weights in float32 and the optimizer's momentum in bfloat16 (the only
loss: momentum rounded to 3 significant digits, which the next steps wash out), as ``checkpoint.partNN`` files
of at most ``part_mib`` MiB and ``handoff.json`` listing them with their sha256. ``read_handoff`` checks and
joins them; ``training.train --resume-from FOLDER`` continues the run from it.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import torch

INDEX = "handoff.json"
PREFIX = "checkpoint.part"


def compact_optimizer(state: dict[str, Any]) -> dict[str, Any]:
    """The optimizer state with floating tensors in bfloat16 (load_state_dict casts them back to the params')."""
    opt = dict(state)
    opt["state"] = {
        k: {n: v.to(torch.bfloat16) if torch.is_tensor(v) and v.is_floating_point() else v for n, v in s.items()}
        for k, s in state["state"].items()
    }
    return opt


def write_handoff(state: dict[str, Any], folder: Path, part_mib: float = 15.0) -> list[Path]:
    """Write ``state`` (a training checkpoint) as parts of at most ``part_mib`` MiB in ``folder``."""
    compact = dict(state, optimizer=compact_optimizer(state["optimizer"]))
    buffer = io.BytesIO()
    torch.save(compact, buffer)
    data = buffer.getvalue()
    size = max(1, int(part_mib * 2**20))
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for n, start in enumerate(range(0, len(data), size)):
        path = folder / f"{PREFIX}{n:02d}"
        path.write_bytes(data[start : start + size])
        parts.append(path)
    index = {
        "parts": [p.name for p in parts],
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "iteration": int(state["iteration"]),
    }
    (folder / INDEX).write_text(json.dumps(index, indent=2))
    return parts


def read_handoff(folder: Path) -> dict[str, Any]:
    """The training state in ``folder`` (ValueError if a part is missing or altered)."""
    index_path = Path(folder) / INDEX
    if not index_path.is_file():
        raise FileNotFoundError(f"no {INDEX} in {folder}: not a handoff folder")
    index = json.loads(index_path.read_text())
    missing = [name for name in index["parts"] if not (Path(folder) / name).is_file()]
    if missing:
        raise ValueError(f"handoff {folder} lacks {', '.join(missing)}")
    data = b"".join((Path(folder) / name).read_bytes() for name in index["parts"])
    if hashlib.sha256(data).hexdigest() != index["sha256"]:
        raise ValueError(f"handoff {folder}: the joined parts do not match the sha256 in {INDEX}")
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
