"""Average the weights of several checkpoints of one training run (weight averaging over its snapshots).

python -m training.average runs/RUN/snapshots/*.pt runs/RUN/last.pt --out runs/RUN/averaged.pt

Averaging the weights visited late in a schedule finds a point nearer the middle of the flat region they
wander in, which usually generalises a little better than any one of them (Izmailov et al., "Averaging
Weights Leads to Wider Optima", 2018). BatchNorm running statistics are averaged too; ``training.ship
--recalibrate-bn`` can re-estimate them on augmented training crops instead (on the CamVid CPU stage 5 the two
scored about the same, and neither beat the last checkpoint: see models/NOTES.md).

The output is a training checkpoint (same format, the last input's config, cost and lineage) with
``averaged_from`` naming its inputs; it has no optimizer state, so it can be shipped or used as ``init_from``
but not resumed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from stdc_ros.errors import ModelFileError

from .train import load_training_checkpoint


def _load(path: Path) -> dict[str, Any]:
    state = load_training_checkpoint(path)
    if state.get("averaged_from"):
        raise ValueError(f"{path} is already an average; average the original checkpoints instead")
    return state


def average_checkpoints(paths: list[Path]) -> dict[str, Any]:
    """The element-wise mean of the inputs' floating-point weights and buffers, as a training checkpoint."""
    if len(paths) < 2:
        raise ValueError("averaging needs at least two checkpoints")
    states = sorted((_load(p) for p in paths), key=lambda s: int(s["iteration"]))
    iterations = [int(s["iteration"]) for s in states]
    if len(set(iterations)) != len(iterations):
        raise ValueError(f"two inputs are the same iteration ({iterations}); each checkpoint once")
    last = states[-1]
    run = last["config"]["name"]
    for s in states:
        if s["config"]["name"] != run:
            raise ValueError(f"checkpoints come from different runs ({s['config']['name']!r} and {run!r})")
    weights = [s["model_checkpoint"]["model"] for s in states]
    keys = weights[-1].keys()
    if any(w.keys() != keys for w in weights):
        raise ValueError("checkpoints hold different networks (their weight names differ)")
    mean: dict[str, torch.Tensor] = {}
    for key in keys:
        tensors = [w[key] for w in weights]
        if tensors[-1].is_floating_point():
            mean[key] = torch.stack([t.double() for t in tensors]).mean(0).to(tensors[-1].dtype)
        else:  # counters such as BN's num_batches_tracked
            mean[key] = tensors[-1].clone()
    payload = dict(last["model_checkpoint"], model=mean)
    keep = ("format", "iteration", "best_miou", "elapsed", "config", "lineage")
    averaged = {k: last[k] for k in keep if k in last}
    averaged.update(model_checkpoint=payload, averaged_from=iterations)
    return averaged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", type=Path, nargs="+", help="training checkpoints of one run")
    parser.add_argument("--out", type=Path, required=True, help="where to write the averaged checkpoint")
    args = parser.parse_args(argv)
    try:
        averaged = average_checkpoints(args.checkpoints)
    except (ModelFileError, ValueError) as exc:
        parser.error(str(exc))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    torch.save(averaged, tmp)
    tmp.replace(args.out)
    print(f"wrote {args.out}: mean of iterations {averaged['averaged_from']} of {averaged['config']['name']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
