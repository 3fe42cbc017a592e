"""Train STDC with detail guidance: python -m training.train --config training/configs/X.yaml [key=value ...].

Single process (CPU or one GPU) or ``torchrun --nproc_per_node=N -m training.train ...`` (DDP).
Exact resume: the run folder's ``last.pt`` holds model, optimizer, scheduler, AMP scaler, RNG and iteration,
and each sample's augmentation is seeded from (seed, epoch, position), so an interrupted run continues
with the very batches it would have seen (also on another device: a GPU run can be finished on the CPU).
Precision (``train.precision``): see training.precision. Throughput (steps/s, images/s and the share of the
time spent waiting for the data loader) is printed once the first steps are done and logged with the losses.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

from stdc_ros.machine import cpu_name
from stdc_ros.network import STDCSeg, build_stdc
from stdc_ros.network.checkpoint import FORMAT as MODEL_FORMAT
from stdc_ros.network.checkpoint import read_checkpoint

from .class_weights import build_class_weights
from .config import ExperimentConfig, load_config
from .datasets import SegmentationDataset, build_dataset
from .evaluate import evaluate_model
from .handoff import read_handoff
from .losses import LossWeights, STDCLoss
from .onnx_import import import_onnx, onnx_lineage
from .plots import plot_curves
from .precision import resolve_precision
from .transforms import EvalTransform, TrainTransform

log = logging.getLogger("training")
TRAIN_FORMAT = "stdc_ros.train/1"
START_STEPS = 10  # steps timed for the throughput printed at start


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed() -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
    return Dist(rank=dist.get_rank(), world=world, local_rank=local)


class SeededSamples(Dataset):
    """Wraps a dataset so that item (epoch, position, index) is augmented with its own seed."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, position, index = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(hash((self.seed, epoch, position)) & 0x7FFFFFFF)
            return self.dataset[index]


class ResumableSampler(torch.utils.data.Sampler):
    """Endless per-epoch permutations (seed + epoch), split across ranks, starting at a given batch."""

    def __init__(self, size: int, batch: int, seed: int, dist_info: Dist, start_batch: int = 0) -> None:
        self.size, self.batch, self.seed, self.dist = size, batch, seed, dist_info
        self.start_batch = start_batch
        self.per_epoch = max(1, size // (batch * dist_info.world))  # full batches per epoch per rank

    def __iter__(self):
        step = self.start_batch
        while True:
            epoch, within = divmod(step, self.per_epoch)
            order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed + epoch))
            per_rank = order[self.dist.rank :: self.dist.world]
            for b in range(within, self.per_epoch):
                for j in range(self.batch):
                    pos = b * self.batch + j
                    yield (epoch, pos * self.dist.world + self.dist.rank, int(per_rank[pos]))
                step += 1


def param_groups(model: STDCSeg, cfg: ExperimentConfig) -> list[dict[str, Any]]:
    """Weight decay only on conv weights; 10x lr on the FFM and heads (the reference recipe)."""
    head_ids = {id(p) for p in model.head_parameters()}
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {(h, d): [] for h in (0, 1) for d in (0, 1)}
    for p in model.parameters():
        groups[(id(p) in head_ids, p.dim() > 1)].append(p)
    out = []
    for (head, decay), params in groups.items():
        if params:
            out.append(
                {
                    "params": params,
                    "lr": cfg.optim.lr * (cfg.optim.head_lr_mult if head else 1.0),
                    "weight_decay": cfg.optim.weight_decay if decay else 0.0,
                }
            )
    return out


def lr_factor(it: int, cfg: ExperimentConfig) -> float:
    """Linear warmup, then poly decay to zero at ``train.iters``."""
    o, total = cfg.optim, cfg.train.iters
    if it < o.warmup_iters:
        return o.warmup_start + (1.0 - o.warmup_start) * it / o.warmup_iters
    progress = (it - o.warmup_iters) / max(1, total - o.warmup_iters)
    return max(0.0, 1.0 - progress) ** o.power


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    _kind, keys, pos, has_gauss, cached = np.random.get_state()
    state["numpy"] = {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "g": int(has_gauss),
                      "c": float(cached)}  # fmt: skip
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["g"], n["c"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def model_payload(model: STDCSeg) -> dict[str, Any]:
    return {
        "format": MODEL_FORMAT,
        "variant": model.variant,
        "num_classes": model.num_classes,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": {},
    }


def check_protocol(cfg: ExperimentConfig) -> None:
    """Monitoring and training never touch the test split: it is scored once, after training."""
    d = cfg.data
    if d.val_split == d.test_split:
        raise ValueError(
            f"data.val_split is the test split ({d.test_split!r}): monitor on val (or a fixed subset of train, "
            "data.val_split=train with train.val_limit); the test split is scored once, after training"
        )
    if d.test_split in d.train_splits:
        raise ValueError(f"data.train_splits {d.train_splits} include the test split {d.test_split!r}")


def spread_subset(dataset: SegmentationDataset, count: int) -> None:
    """Keep ``count`` samples spread evenly over ``dataset`` (a fixed subset covering every sequence)."""
    if 0 < count < len(dataset):
        picks = np.linspace(0, len(dataset) - 1, count).round().astype(int)
        dataset.pairs = [dataset.pairs[i] for i in picks]


@dataclass
class Throughput:
    """Steps, images and loader wait over a window of iterations."""

    images_per_step: int
    steps: int = 0
    wait: float = 0.0  # seconds spent waiting for the next batch
    total: float = 0.0  # seconds of whole iterations (wait + compute)

    def add(self, wait: float, total: float) -> None:
        self.steps += 1
        self.wait += wait
        self.total += total

    def summary(self) -> dict[str, float]:
        """steps_per_s, images_per_s, loader_wait (a fraction of the time); NaN before any timed step."""
        if not self.steps or self.total <= 0:
            return dict.fromkeys(("steps_per_s", "images_per_s", "loader_wait"), math.nan)
        return {"steps_per_s": self.steps / self.total, "images_per_s": self.steps * self.images_per_step / self.total,
                "loader_wait": self.wait / self.total}  # fmt: skip

    def reset(self) -> None:
        self.steps, self.wait, self.total = 0, 0.0, 0.0


def format_throughput(rate: dict[str, float]) -> str:
    return (
        f"{rate['steps_per_s']:.3f} steps/s ({1 / rate['steps_per_s']:.3f} s/step), "
        f"{rate['images_per_s']:.2f} images/s, loader wait {100 * rate['loader_wait']:.1f}% of the time"
    )


def load_training_checkpoint(path: Path) -> dict[str, Any]:
    """A training checkpoint's state (ModelFileError if missing or unreadable, ValueError if another kind)."""
    state = read_checkpoint(path)
    if state.get("format") != TRAIN_FORMAT:
        raise ValueError(f"{path} is not a training checkpoint")
    return state


class Trainer:
    def __init__(self, cfg: ExperimentConfig, dist_info: Dist | None = None, initialise: bool = True) -> None:
        """``initialise=False`` skips ``init_from`` (a run about to be resumed gets its weights from last.pt)."""
        self.cfg = cfg
        self.dist = dist_info or Dist()
        self.out = Path(cfg.output)
        self.device = torch.device(f"cuda:{self.dist.local_rank}" if torch.cuda.is_available() else "cpu")
        check_protocol(cfg)
        self.precision = resolve_precision(cfg.train.precision, self.device.type)
        if self.device.type == "cpu" and cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed crop size: pick the fastest kernels once
        torch.manual_seed(cfg.train.seed)
        random.seed(cfg.train.seed)
        np.random.seed(cfg.train.seed)

        d = cfg.data
        transform = TrainTransform(tuple(d.crop), tuple(d.scale), d.base_size, d.ignore_index, d.jitter)
        train_set = build_dataset(d.dataset, Path(d.root), d.train_splits, transform)
        if d.limit:
            train_set.pairs = train_set.pairs[: d.limit]
        self.train_set = SeededSamples(train_set, cfg.train.seed)
        self.val_set = build_dataset(d.dataset, Path(d.root), [d.val_split], EvalTransform())
        spread_subset(self.val_set, cfg.train.val_limit)

        model = build_stdc(cfg.model.variant, cfg.model.num_classes)
        if self.dist.world > 1:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.model = model.to(self.device)
        if cfg.train.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.ddp = (
            torch.nn.parallel.DistributedDataParallel(self.model, device_ids=[self.dist.local_rank])
            if self.dist.world > 1 and self.device.type == "cuda"
            else torch.nn.parallel.DistributedDataParallel(self.model)
            if self.dist.world > 1
            else self.model
        )
        o = cfg.optim
        self.optimizer = torch.optim.SGD(param_groups(self.model, cfg), lr=o.lr, momentum=o.momentum)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda it: lr_factor(it, cfg))
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.precision.needs_scaler)
        lw = cfg.loss
        self.class_weights = build_class_weights(lw.class_weights, train_set)
        if self.class_weights is not None:
            log.info("class weights (%s): %s", lw.class_weights, [round(float(w), 3) for w in self.class_weights])
        self.criterion = STDCLoss(
            d.ignore_index,
            LossWeights(lw.main, lw.aux8, lw.aux16, lw.detail_bce, lw.detail_dice),
            use_detail=lw.use_detail,
            class_weights=self.class_weights,
        )
        self.iteration = 0
        self.best_miou = -1.0
        self.elapsed = 0.0  # seconds of training over all resumed runs
        self.lineage: list[dict[str, Any]] = []  # earlier stages this run's weights started from
        self.segments: list[dict[str, Any]] = []  # where and how each stretch of this run's iterations ran
        if cfg.init_from and initialise:
            self.init_from(Path(cfg.init_from), train_set)

    # --- checkpoints -------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "format": TRAIN_FORMAT,
            "model_checkpoint": model_payload(self.model),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "iteration": self.iteration,
            "best_miou": self.best_miou,
            "elapsed": self.elapsed,
            "rng": rng_state(),
            "config": self.cfg.to_dict(),
            "lineage": self.lineage,
            "segments": self.segments,
        }

    def save(self, name: str) -> Path:
        path = self.out / name
        tmp = path.with_suffix(".tmp")
        torch.save(self.state(), tmp)
        tmp.replace(path)  # atomic: an interruption never leaves a half-written checkpoint
        return path

    def resume(self, path: Path) -> None:
        """Continue from a training checkpoint, or from a handoff folder (training.handoff) of another machine."""
        state = read_handoff(path) if Path(path).is_dir() else load_training_checkpoint(path)
        if state.get("averaged_from"):
            raise ValueError(f"{path} is a weight average (no optimizer state): ship it or use it as init_from")
        self.model.load_state_dict(state["model_checkpoint"]["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state["scaler"] and self.scaler.is_enabled():  # empty when saved by a run without loss scaling
            self.scaler.load_state_dict(state["scaler"])
        self.iteration = int(state["iteration"])
        self.best_miou = float(state["best_miou"])
        self.elapsed = float(state.get("elapsed", 0.0))
        self.lineage = list(state.get("lineage", []))
        self.segments = list(state.get("segments", []))
        set_rng_state(state["rng"])
        log.info("resumed from %s at iteration %d", path, self.iteration)

    def init_from(self, path: Path, train_set: Dataset) -> None:
        """Start from another run's weights (a later stage); its config and cost are kept as lineage.

        An exported ``.onnx`` file (the shipped model) works too: see training.onnx_import.
        """
        if not path.is_file():
            raise FileNotFoundError(f"init_from checkpoint not found: {path}")
        if path.suffix == ".onnx":
            imported = import_onnx(path, train_set, seed=self.cfg.train.seed)
            self.model.load_state_dict(imported.state_dict())
            self.lineage = onnx_lineage(path)
            log.info("initialised from %s (%d earlier iterations)", path, sum(s["iterations"] for s in self.lineage))
            return
        state = load_training_checkpoint(path)
        self.model.load_state_dict(state["model_checkpoint"]["model"])
        stage = {"config": state["config"], "iterations": int(state["iteration"]),
                 "elapsed": float(state.get("elapsed", 0.0)), "segments": state.get("segments", [])}  # fmt: skip
        self.lineage = [*state.get("lineage", []), stage]
        log.info("initialised from %s (%d iterations)", path, stage["iterations"])

    # --- loop ----------------------------------------------------------------------------------------
    def loader(self) -> DataLoader:
        c = self.cfg
        sampler = ResumableSampler(len(self.train_set), c.train.batch_size, c.train.seed, self.dist, self.iteration)
        workers = c.data.workers
        if workers:  # decode every frame once, before the workers fork, so that they share the decoded frames
            self.train_set.dataset.preload()
        return DataLoader(
            self.train_set,
            batch_size=c.train.batch_size,
            sampler=sampler,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=workers > 0,
            prefetch_factor=c.data.prefetch if workers else None,
        )

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        images = images.to(self.device, non_blocking=True)
        labels = labels.to(self.device, non_blocking=True)
        if self.cfg.train.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        self.ddp.train()
        with self.precision.autocast():
            outputs = self.ddp(images)
        outputs = type(outputs)(*(o.float() for o in outputs))
        loss, terms = self.criterion(outputs, labels)
        if not math.isfinite(float(loss.detach())):
            raise FloatingPointError(f"loss is {float(loss)} at iteration {self.iteration}: {terms}")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        terms["loss"] = float(loss.detach())
        terms["lr"] = self.optimizer.param_groups[0]["lr"]
        return terms

    def validate(self) -> dict[str, Any]:
        self.model.eval()
        cm = evaluate_model(self.model, self.val_set, self.device, progress=False)
        iou = cm.iou()
        result = {"iteration": self.iteration, "miou": cm.miou(), "pixel_acc": cm.pixel_accuracy()}
        result.update({f"iou_{i}": float(v) for i, v in enumerate(iou)})
        return result

    def _snapshot_due(self) -> bool:
        c = self.cfg.train
        return (
            bool(c.snapshot_interval)
            and self.iteration >= c.snapshot_after
            and (self.iteration % c.snapshot_interval == 0)
        )

    def hardware(self) -> str:
        if self.device.type == "cuda":
            return f"{torch.cuda.get_device_name(self.device)} x {self.dist.world} (GPU)"
        return f"{cpu_name()}, {torch.get_num_threads()} threads (CPU)"

    def _record_segment(self, start: int, seconds: float) -> None:
        """Count iterations ``start``..now as run on this machine (merged with the last stretch if the same)."""
        here = {"hardware": self.hardware(), "precision": self.precision.name}
        last = self.segments[-1] if self.segments else None
        if last and {k: last[k] for k in here} == here and last["to"] == start:
            last["to"], last["seconds"] = self.iteration, last["seconds"] + seconds
        elif self.iteration > start:
            self.segments.append({**here, "from": start, "to": self.iteration, "seconds": seconds})

    def describe(self) -> str:
        """What this run is and where it writes, for the log at start."""
        c = self.cfg
        return (
            f"run {c.name}: folder {self.out.resolve()}; {self.hardware()}; precision {self.precision.name} "
            f"({self.precision.reason}); channels_last {c.train.channels_last}; batch {c.train.batch_size} x "
            f"{self.dist.world} process(es); data loader workers {c.data.workers}; {len(self.train_set)} training "
            f"frames ({'+'.join(c.data.train_splits)}), monitoring on {len(self.val_set)} {c.data.val_split} frames; "
            f"iteration {self.iteration} of {c.train.iters}"
        )

    def fit(self, max_seconds: float = 0.0) -> dict[str, Any] | None:
        """Train to ``train.iters`` (or stop after ``max_seconds``, saving ``last.pt``); returns last validation."""
        from tqdm import tqdm

        c = self.cfg.train
        if self.iteration >= c.iters:
            log.info("%s is already at iteration %d of %d: nothing to train", self.cfg.name, self.iteration, c.iters)
            return None
        self.out.mkdir(parents=True, exist_ok=True)
        if self.dist.main:
            (self.out / "config.yaml").write_text(_dump_yaml(self.cfg.to_dict()))
            log.info("%s", self.describe())
        writer = _tensorboard(self.out) if self.dist.main else None
        bar = tqdm(total=c.iters, initial=self.iteration, disable=not self.dist.main, desc="train", unit="it")
        started = time.monotonic()
        last_val = None
        window: list[dict[str, float]] = []
        rate = Throughput(c.batch_size * self.dist.world)  # over each log interval
        start_rate = Throughput(c.batch_size * self.dist.world)  # over the first steps, reported once
        warmup = self.iteration + 1  # the first step builds kernels and starts workers: not timed
        report_at = warmup + START_STEPS
        batches = iter(self.loader())
        while self.iteration < c.iters:
            t0 = time.monotonic()
            images, labels = next(batches)
            t1 = time.monotonic()
            terms = self.step(images, labels)
            self.iteration += 1
            t2 = time.monotonic()
            self.elapsed += t2 - t0
            self._record_segment(self.iteration - 1, t2 - t0)
            if self.iteration > warmup:
                rate.add(t1 - t0, t2 - t0)
                start_rate.add(t1 - t0, t2 - t0)
            window.append(terms)
            bar.update(1)
            if self.dist.main and self.iteration == report_at:
                now = start_rate.summary()
                left = (c.iters - self.iteration) / now["steps_per_s"] / 3600
                bar.write(f"throughput at start: {format_throughput(now)}; the remaining "
                          f"{c.iters - self.iteration} iterations take about {left:.2f} h at this rate")  # fmt: skip
            if self.dist.main and (self.iteration % c.log_interval == 0 or self.iteration == c.iters):
                mean = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
                mean.update(rate.summary())
                window.clear()
                rate.reset()
                postfix = {"loss": f"{mean['loss']:.3f}", "lr": f"{mean['lr']:.2e}"}
                if not math.isnan(mean["steps_per_s"]):
                    postfix.update(img_s=f"{mean['images_per_s']:.1f}", wait=f"{100 * mean['loader_wait']:.0f}%")
                bar.set_postfix(postfix)
                _append_csv(self.out / "train_log.csv", {"iteration": self.iteration, "seconds": self.elapsed, **mean})
                if writer:
                    for k, v in mean.items():
                        writer.add_scalar(f"train/{k}", v, self.iteration)
            done = self.iteration == c.iters
            if self.dist.main and c.val_interval and (self.iteration % c.val_interval == 0 or done):
                last_val = self.validate()
                _append_csv(self.out / "val_log.csv", last_val)
                bar.write(f"iter {self.iteration}: {self.cfg.data.val_split} mIoU {last_val['miou'] * 100:.2f}")
                if writer:
                    writer.add_scalar("val/miou", last_val["miou"], self.iteration)
                if last_val["miou"] > self.best_miou:
                    self.best_miou = last_val["miou"]
                    self.save("best.pt")
                plot_curves(self.out)
            if self.dist.main and (self.iteration % c.checkpoint_interval == 0 or done):
                self.save("last.pt")
            if self.dist.main and self._snapshot_due():
                (self.out / "snapshots").mkdir(exist_ok=True)
                self.save(f"snapshots/iter_{self.iteration:06d}.pt")
            if max_seconds and time.monotonic() - started > max_seconds and not done:
                if self.dist.main:
                    self.save("last.pt")
                    bar.write(f"time budget reached at iteration {self.iteration}; resume with --resume")
                break
        bar.close()
        if self.dist.main:
            plot_curves(self.out)
        if writer:
            writer.close()
        return last_val


def _dump_yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


def _append_csv(path: Path, row: dict[str, Any]) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional; the CSV logs always exist
        return None
    return SummaryWriter(str(out / "tensorboard"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True, help="experiment YAML under training/configs/")
    parser.add_argument("--resume", action="store_true", help="continue from OUTPUT/last.pt if it exists")
    parser.add_argument(
        "--resume-from",
        type=Path,
        default=None,
        help="continue from this checkpoint or handoff folder (e.g. a GPU run's) instead of OUTPUT/last.pt",
    )
    parser.add_argument("--max-minutes", type=float, default=0.0, help="stop (and save) after this long")
    parser.add_argument("overrides", nargs="*", help="config overrides such as train.iters=100")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cfg = load_config(args.config, args.overrides)
    dist_info = setup_distributed()
    last = Path(cfg.output) / "last.pt"
    source = args.resume_from or (last if args.resume and last.exists() else None)
    trainer = Trainer(cfg, dist_info, initialise=source is None)  # resume() brings the weights and lineage
    if source is not None:
        trainer.resume(source)
    result = trainer.fit(max_seconds=args.max_minutes * 60.0)
    if dist_info.main and result:
        print(f"final {cfg.data.val_split} mIoU {result['miou'] * 100:.2f} at iteration {result['iteration']}")
    if dist_info.world > 1:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
