"""A bounded GPU stretch of the final recipe, from the packed data, to be finished on the CPU.

On the machine with one NVIDIA GPU (nothing else needed there but this repository and the pack):

    python -m training.gpu_run --pack build/camvid_trainval.tar --out /tmp/gpu_run --minutes 8 --handoff $OUT

1. unpacks the pack (training.pack, made here with ``make pack``) into a temporary folder;
2. trains ``training/configs/camvid_final_gpu.yaml`` (the final recipe: same schedule, batch and seed as
   camvid_final.yaml; fp16 autocast with loss scaling, 12 loader workers) with its run folder at --out, resuming
   there if a last.pt is already in it, until ``--minutes`` have passed since the start (setup included) or the
   schedule ends; last.pt is saved;
3. with --handoff, writes that checkpoint as parts of at most --part-mib MiB (training.handoff) for the trip back.

Then on the CPU the same run continues where the GPU left it:

    python -m training.train --config training/configs/camvid_final.yaml --resume-from HANDOFF_OR_LAST_PT
    make train      # later sessions: resumes from ${STDC_RUNS}/camvid_final/last.pt

(or fine-tune from it instead: any config with ``init_from=/path/to/last.pt``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch

from .config import load_config
from .handoff import write_handoff
from .pack import unpack
from .train import Trainer, load_training_checkpoint

CONFIG = Path(__file__).resolve().parent / "configs" / "camvid_final_gpu.yaml"
SAVE_MARGIN_S = 30.0  # left of the budget for the last checkpoint and the handoff


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack", type=Path, required=True, help="the data pack (python -m training.pack)")
    parser.add_argument("--out", type=Path, required=True, help="run folder: last.pt, logs, curves")
    parser.add_argument("--minutes", type=float, required=True, help="wall-clock budget, setup included")
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--handoff", type=Path, default=None, help="also write last.pt in parts to this folder")
    parser.add_argument("--part-mib", type=float, default=15.0, help="largest handoff part, MiB")
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "stdc_camvid_pack")
    parser.add_argument("--allow-cpu", action="store_true", help="run without a GPU (to test this command)")
    parser.add_argument("overrides", nargs="*", help="config overrides such as train.iters=100")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not torch.cuda.is_available() and not args.allow_cpu:
        parser.error("no CUDA device here (torch.cuda.is_available() is False); --allow-cpu runs it anyway")
    if not args.pack.is_file():
        parser.error(f"data pack not found: {args.pack} (make it where ../shared/camvid is: make pack)")
    root = unpack(args.pack, args.data_dir)
    cfg = load_config(args.config, [f"data.root={root}", f"output={args.out}", *args.overrides])
    last = args.out / "last.pt"
    trainer = Trainer(cfg, initialise=not last.is_file())
    if last.is_file():
        trainer.resume(last)
    budget = args.minutes * 60.0 - (time.monotonic() - started) - SAVE_MARGIN_S
    if budget <= 0:
        parser.error(f"--minutes {args.minutes} leaves no time to train after the setup")
    trainer.fit(max_seconds=budget)
    print(f"GPU stretch ended at iteration {trainer.iteration} of {cfg.train.iters}: {last}")
    if args.handoff:
        parts = write_handoff(load_training_checkpoint(last), args.handoff, args.part_mib)
        print(f"handoff: {len(parts)} part(s) in {args.handoff}")
    source = args.handoff or last
    print(f"continue on the CPU: python -m training.train --config training/configs/camvid_final.yaml "
          f"--resume-from {source}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
