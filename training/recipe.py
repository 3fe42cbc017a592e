"""The whole CamVid recipe in one resumable command (``make train``): decide on val, then the final run.

python -m training.recipe [--decide training/configs/camvid_val.yaml] [--final training/configs/camvid_final.yaml]
                          [--choose loss.class_weights=enet,none] [--max-minutes M] [key=value ...]

1. Decisions: for each ``--choose KEY=A,B,...``, the decision config (train only, short schedule, scored on val)
   is trained once per value; the value whose run ends with the higher val mIoU goes into the final run (ties:
   the first listed). Results go to decisions.json beside the final run's folder (in ``${STDC_RUNS}``).
   ``--choose`` may be given several times (decided one after the other, each with the earlier choices
   applied); ``--choose none`` decides nothing.
2. The final config (train + val, long schedule) with the chosen values, resumed from its last.pt.

Every run resumes from its own last.pt; a decision run that already finished is not trained again (its final val
mIoU is read from its val_log.csv). ``--max-minutes`` bounds the whole command: whatever run is training then
saves and stops, and the next call carries on. The test split is never touched: after the final run, score it
once with ``python -m training.ship --checkpoint ${STDC_RUNS}/camvid_final/last.pt --selection val``.
Overrides (key=value) apply to every run, e.g. ``data.root=/data/camvid``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .config import ExperimentConfig, load_config
from .train import Trainer

CONFIGS = Path(__file__).resolve().parent / "configs"
log = logging.getLogger("training")


@dataclass
class Choice:
    key: str
    values: list[str]

    @classmethod
    def parse(cls, text: str) -> Choice:
        key, sep, values = text.partition("=")
        options = [v for v in values.split(",") if v]
        if not sep or not key or len(options) < 2:
            raise ValueError(f"--choose {text!r} must look like section.key=A,B")
        return cls(key, options)


def arm_overrides(choice: Choice, value: str, decide: Path) -> list[str]:
    """The overrides of one decision run (its own name, hence its own run folder)."""
    leaf = choice.key.rpartition(".")[2]
    return [f"{choice.key}={value}", f"name={decide.stem}_{leaf}_{value}"]


def final_val_miou(run: Path, iters: int) -> float | None:
    """The val mIoU a finished run logged at its last iteration (None if it has not finished)."""
    log_path = run / "val_log.csv"
    if not log_path.is_file():
        return None
    with log_path.open() as f:
        rows = [r for r in csv.DictReader(f) if int(r["iteration"]) == iters]
    return float(rows[-1]["miou"]) if rows else None


def train_to_end(cfg: ExperimentConfig, deadline: float) -> bool:
    """Train (resuming) until the schedule ends or the deadline (0: none) passes; True when it ended."""
    last = Path(cfg.output) / "last.pt"
    trainer = Trainer(cfg, initialise=not last.is_file())
    if last.is_file():
        trainer.resume(last)
    if trainer.iteration >= cfg.train.iters:
        return True
    budget = max(1e-9, deadline - time.monotonic()) if deadline else 0.0
    trainer.fit(max_seconds=budget)
    return trainer.iteration >= cfg.train.iters


def decide(choice: Choice, config: Path, overrides: list[str], deadline: float) -> tuple[str | None, dict]:
    """The value that scores higher on val (None when the time ran out first) and each value's mIoU."""
    scores: dict[str, float | None] = {}
    for value in choice.values:
        cfg = load_config(config, [*overrides, *arm_overrides(choice, value, config)])
        if cfg.train.val_interval == 0:  # the end-of-run validation is what decides
            raise ValueError(f"{config} must validate (train.val_interval > 0) to decide on val")
        miou = final_val_miou(Path(cfg.output), cfg.train.iters)
        if miou is None and train_to_end(cfg, deadline):
            miou = final_val_miou(Path(cfg.output), cfg.train.iters)
        scores[value] = miou
        if miou is None:
            return None, scores
        log.info("decision %s=%s: val mIoU %.2f", choice.key, value, 100 * miou)
    best = max(choice.values, key=lambda v: (scores[v], -choice.values.index(v)))
    return best, scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decide", type=Path, default=CONFIGS / "camvid_val.yaml", help="the decision schedule")
    parser.add_argument("--final", type=Path, default=CONFIGS / "camvid_final.yaml", help="the final run")
    parser.add_argument("--choose", action="append", default=None, help="KEY=A,B decided on val ('none': nothing)")
    parser.add_argument("--max-minutes", type=float, default=0.0, help="stop (and save) after this long")
    parser.add_argument("overrides", nargs="*", help="config overrides applied to every run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    deadline = time.monotonic() + args.max_minutes * 60.0 if args.max_minutes else 0.0
    texts = args.choose or ["loss.class_weights=enet,none"]
    choices = [] if texts == ["none"] else [Choice.parse(t) for t in texts]
    chosen: list[str] = []
    record: dict[str, object] = {}
    for choice in choices:
        best, scores = decide(choice, args.decide, [*args.overrides, *chosen], deadline)
        record[choice.key] = {"val_miou": scores, "chosen": best, "config": args.decide.stem}
        if best is None:
            print(f"time budget reached while deciding {choice.key}; run the same command again to carry on")
            return 0
        chosen.append(f"{choice.key}={best}")
    if choices:
        decisions = Path(load_config(args.final, args.overrides).output).parent / "decisions.json"
        decisions.parent.mkdir(parents=True, exist_ok=True)
        decisions.write_text(json.dumps(record, indent=2))
        print(f"decided on val: {', '.join(chosen)} ({decisions})")
    final = load_config(args.final, [*args.overrides, *chosen])
    if not train_to_end(final, deadline):
        print(f"time budget reached in {final.name}; run the same command again to carry on")
        return 0
    print(f"{final.name} finished: {final.output}/last.pt. Score test once: python -m training.ship "
          f"--checkpoint {final.output}/last.pt --selection val")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
