"""Training step speed on this machine: precision x memory format, then data loader workers against the step.

python -m training.speed --config training/configs/camvid_final.yaml [--steps 5] [--rounds 2] [key=value ...]

1. Compute: one training step (forward, losses, backward, SGD) on one fixed batch of the config's crops, for
   each of fp32 / bf16 (where the CPU has it) x contiguous / channels_last; the arms take turns, ``steps`` steps
   each per round, so that load from other processes on a shared machine hits them alike. Median per arm.
2. Loading: the time the data loader alone needs for one batch (no training), then real iterations (loader +
   step, the config's precision and memory format) with 0, 1 and 2 worker processes, taking turns again; each
   round starts a fresh loader and leaves out its first two iterations (workers starting, first prefetch).

Prints a Markdown table (also written to --out as JSON and Markdown when given). Timings on a machine shared
with other work are noisy: compare arms of one run, not runs of different times.

``--curve N`` instead trains two copies of the same network (same seed, same initial weights) side by side for
N steps on the very same batches, one in float32 and one under bf16 autocast, taking turns step by step, and
prints both loss curves as means over windows (and writes curve.csv to --out): bf16 must track float32
within the noise of training.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import logging
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from stdc_ros.machine import cpu_name

from .config import ExperimentConfig, load_config
from .precision import cpu_bf16_support
from .train import Trainer

SKIP = 2  # iterations left out at the start of each loader round


@dataclass
class Arm:
    name: str
    overrides: dict[str, object]
    seconds: list[float] = field(default_factory=list)  # per step (compute) or per iteration (loading)
    waits: list[float] = field(default_factory=list)  # loader wait per iteration (loading arms)

    def row(self, batch: int) -> dict[str, float | str]:
        step = statistics.median(self.seconds)
        out: dict[str, float | str] = {"arm": self.name, "s_per_step": step, "images_per_s": batch / step,
                                       "samples": len(self.seconds)}  # fmt: skip
        if self.waits:
            out["loader_wait"] = sum(self.waits) / sum(self.seconds)
        return out


def configured(base: ExperimentConfig, overrides: dict[str, object], out: Path) -> ExperimentConfig:
    """``base`` with dotted ``overrides`` (train.precision, ...), writing nowhere that matters."""
    cfg = dataclasses.replace(base, output=str(out), init_from="")
    for dotted, value in overrides.items():
        section, key = dotted.split(".")
        setattr(cfg, section, dataclasses.replace(getattr(cfg, section), **{key: value}))
    return cfg


def compute_arms(bf16: bool) -> list[Arm]:
    precisions = ["fp32", "bf16"] if bf16 else ["fp32"]
    return [
        Arm(f"{p}, {'channels_last' if cl else 'contiguous'}", {"train.precision": p, "train.channels_last": cl})
        for p in precisions
        for cl in (False, True)
    ]


def time_compute(base: ExperimentConfig, arms: list[Arm], steps: int, rounds: int, out: Path) -> None:
    trainers = [Trainer(configured(base, arm.overrides, out / "compute")) for arm in arms]
    images, labels = next(iter(trainers[0].loader()))
    for trainer in trainers:
        trainer.step(images, labels)  # warm-up: kernels, allocations
    for _ in range(rounds):
        for arm, trainer in zip(arms, trainers):
            for _ in range(steps):
                t0 = time.perf_counter()
                trainer.step(images, labels)
                arm.seconds.append(time.perf_counter() - t0)


def time_loader_alone(trainer: Trainer, batches: int) -> float:
    """Median seconds the in-process loader (workers 0) takes to make one batch."""
    loader = iter(trainer.loader())
    next(loader)
    times = []
    for _ in range(batches):
        t0 = time.perf_counter()
        next(loader)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_loading(base: ExperimentConfig, arms: list[Arm], steps: int, rounds: int, out: Path) -> None:
    trainers = [Trainer(configured(base, arm.overrides, out / "loading")) for arm in arms]
    for _ in range(rounds):
        for arm, trainer in zip(arms, trainers):
            batches = iter(trainer.loader())
            for n in range(SKIP + steps):
                t0 = time.perf_counter()
                images, labels = next(batches)
                t1 = time.perf_counter()
                trainer.step(images, labels)
                if n >= SKIP:
                    arm.seconds.append(time.perf_counter() - t0)
                    arm.waits.append(t1 - t0)
            del batches  # stops this arm's workers before the next arm runs


def loss_curves(base: ExperimentConfig, steps: int, window: int, out: Path) -> list[dict[str, float]]:
    """Per-step loss and step seconds of a float32 and a bf16 copy trained side by side on the same batches."""
    arms = {p: Trainer(configured(base, {"train.precision": p}, out / p)) for p in ("fp32", "bf16")}
    batches = iter(arms["fp32"].loader())
    rows = []
    for step in range(1, steps + 1):
        images, labels = next(batches)
        row: dict[str, float] = {"step": step}
        for name, trainer in arms.items():
            t0 = time.perf_counter()
            row[f"{name}_loss"] = trainer.step(images, labels)["loss"]
            row[f"{name}_s"] = time.perf_counter() - t0
        rows.append(row)
    lines = ["| steps | fp32 loss | bf16 loss | bf16 - fp32 | fp32 s/step | bf16 s/step |", "|---|---|---|---|---|---|"]
    for start in range(0, steps, window):
        part = rows[start : start + window]
        mean = {k: statistics.fmean(r[k] for r in part) for k in ("fp32_loss", "bf16_loss")}
        speed = {k: statistics.median(r[k] for r in part) for k in ("fp32_s", "bf16_s")}
        diff = mean["bf16_loss"] - mean["fp32_loss"]
        lines.append(
            f"| {start + 1}-{start + len(part)} | {mean['fp32_loss']:.4f} | {mean['bf16_loss']:.4f} | {diff:+.4f} | "
            f"{speed['fp32_s']:.3f} | {speed['bf16_s']:.3f} |"
        )
    print("\n".join(lines))
    return rows


def table(rows: list[dict[str, float | str]]) -> str:
    lines = ["| arm | s/step (median) | images/s | loader wait | samples |", "|---|---|---|---|---|"]
    for r in rows:
        wait = f"{100 * r['loader_wait']:.0f}%" if "loader_wait" in r else "-"
        lines.append(f"| {r['arm']} | {r['s_per_step']:.3f} | {r['images_per_s']:.2f} | {wait} | {r['samples']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True, help="the recipe whose batch, crops and data to time")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per arm and round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of taking turns")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="loader worker counts to time")
    parser.add_argument("--skip-compute", action="store_true", help="time only the loading arms")
    parser.add_argument("--curve", type=int, default=0, help="instead: fp32 vs bf16 loss curves over N steps")
    parser.add_argument("--window", type=int, default=50, help="steps per row of the loss-curve table")
    parser.add_argument("--out", type=Path, default=None, help="folder for speed.json and speed.md")
    parser.add_argument("overrides", nargs="*", help="config overrides such as train.batch_size=4")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    base = load_config(args.config, args.overrides)
    scratch = Path(args.out or "runs/speed")
    bf16, evidence = cpu_bf16_support()
    batch = base.train.batch_size
    header = (f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}; batch {batch}, "
              f"crops {base.data.crop[0]}x{base.data.crop[1]}; CPU bf16: {evidence}")  # fmt: skip
    print(header)
    result: dict[str, object] = {"machine": header}
    if args.curve:
        rows = loss_curves(base, args.curve, args.window, scratch)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            with (args.out / "curve.csv").open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        return 0
    if not args.skip_compute:
        arms = compute_arms(bf16)
        time_compute(base, arms, args.steps, args.rounds, scratch)
        result["compute"] = [arm.row(batch) for arm in arms]
        print("\nStep (fixed batch, no loading):\n" + table(result["compute"]))
    alone = time_loader_alone(Trainer(configured(base, {"data.workers": 0}, scratch / "alone")), args.steps)
    result["loader_alone_s_per_batch"] = alone
    print(f"\nData loader alone (in process): {alone:.3f} s per batch of {batch}")
    arms = [Arm(f"workers {w}", {"data.workers": w}) for w in args.workers]
    time_loading(base, arms, args.steps, args.rounds, scratch)
    result["loading"] = [arm.row(batch) for arm in arms]
    print(f"\nIterations (loader + step, precision {base.train.precision}):\n" + table(result["loading"]))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "speed.json").write_text(json.dumps(result, indent=2))
        (args.out / "speed.md").write_text(header + "\n\n" + table(result.get("compute", [])) + "\n\n"
                                           + table(result["loading"]) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
