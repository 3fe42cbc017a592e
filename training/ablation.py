"""Detail-guidance ablation: one schedule trained twice, with and without the detail loss, both scored on val.

python -m training.ablation --config training/configs/camvid_ablation.yaml [--resume] [key=value ...]   (make ablation)

Both arms share the schedule and the seed (so the same initial weights, up to the detail head, and the same
batches); each is scored on the whole monitoring split (``data.val_split``: val; never test, which
training.train refuses), with PyTorch at full resolution.

Writes OUTPUT/ablation.json (what `python -m training.ship --ablation` puts in the model card) and keeps each
arm's run folder (OUTPUT/with_detail, OUTPUT/without_detail) with its logs, curves and checkpoints.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any

import torch

from stdc_ros.machine import cpu_name

from .config import ExperimentConfig, load_config
from .datasets import build_dataset
from .evaluate import evaluate_model
from .train import Trainer
from .transforms import EvalTransform

ARMS = {"with_detail": True, "without_detail": False}


def arm_config(base: ExperimentConfig, name: str, out: Path) -> ExperimentConfig:
    loss = dataclasses.replace(base.loss, use_detail=ARMS[name])
    return dataclasses.replace(base, loss=loss, output=str(out / name), name=f"{base.name}_{name}")


def run_arm(cfg: ExperimentConfig, resume: bool) -> dict[str, Any]:
    last = Path(cfg.output) / "last.pt"
    resuming = resume and last.exists()
    trainer = Trainer(cfg, initialise=not resuming)
    if resuming:
        trainer.resume(last)
    trainer.fit()
    d = cfg.data
    scored = build_dataset(d.dataset, Path(d.root), [d.val_split], EvalTransform())
    cm = evaluate_model(trainer.model, scored, trainer.device)
    return {
        "use_detail": cfg.loss.use_detail,
        "iterations": trainer.iteration,
        "training_seconds": trainer.elapsed,
        "miou": cm.miou(),
        "pixel_accuracy": cm.pixel_accuracy(),
        "per_class_iou": [float(v) for v in cm.iou()],
        "split": d.val_split,
        "frames": len(scored),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True, help="the schedule both arms share")
    parser.add_argument("--resume", action="store_true", help="continue each arm from its last.pt")
    parser.add_argument("overrides", nargs="*", help="config overrides such as train.iters=100")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    base = load_config(args.config, args.overrides)
    out = Path(base.output)
    results = {name: run_arm(arm_config(base, name, out), args.resume) for name in ARMS}
    device = "cuda" if torch.cuda.is_available() else "cpu"
    summary = {
        "schedule": base.name,
        "config": base.to_dict(),
        "data": f"{base.data.dataset} {'+'.join(base.data.train_splits)} -> {base.data.val_split}, full frames",
        "split": base.data.val_split,
        "hardware": torch.cuda.get_device_name() if device == "cuda" else f"{cpu_name()} (CPU)",
        **results,
    }
    (out / "ablation.json").write_text(json.dumps(summary, indent=2))
    for name, r in results.items():
        print(f"{name}: {r['split']} mIoU {r['miou'] * 100:.2f} after {r['iterations']} iterations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
