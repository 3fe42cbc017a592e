"""A few real training iterations on a few CamVid frames: the loss goes down and resume is exact."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")  # needs torch: skipped where it is absent (a ROS install, .venv-jazzy)

import torch

from training.config import load_config
from training.train import Trainer

REPO = Path(__file__).resolve().parents[2]


def smoke_config(camvid_root: Path, out: Path, iters: int, **extra: str):
    overrides = [
        f"output={out}",
        f"data.root={camvid_root}",
        "data.limit=2",
        "data.crop=[64,96]",
        "data.scale=[0.25,0.3]",
        "data.jitter=0.0",
        "train.batch_size=2",
        f"train.iters={iters}",
        "train.threads=1",
        "train.log_interval=1",
        "train.val_interval=0",
        "train.val_limit=2",
        "train.checkpoint_interval=1000",
        "optim.warmup_iters=0",
        "optim.lr=0.01",
        "loss.class_weights=none",
    ] + [f"{k}={v}" for k, v in extra.items()]
    return load_config(REPO / "training/configs/camvid_final.yaml", overrides)


def read_losses(run: Path) -> list[float]:
    import csv

    with (run / "train_log.csv").open() as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


def test_loss_goes_down(camvid_root: Path, tmp_path: Path) -> None:
    cfg = smoke_config(camvid_root, tmp_path / "run", iters=12)
    trainer = Trainer(cfg)
    trainer.fit()
    losses = read_losses(tmp_path / "run")
    assert len(losses) == 12
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert (tmp_path / "run" / "last.pt").is_file() and (tmp_path / "run" / "curves.png").is_file()
    # throughput is logged with the losses (from the second step on: the first one warms up)
    import csv

    with (tmp_path / "run" / "train_log.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert math.isnan(float(rows[0]["steps_per_s"])) and float(rows[-1]["images_per_s"]) == pytest.approx(
        2 * float(rows[-1]["steps_per_s"])
    )
    assert 0.0 <= float(rows[-1]["loader_wait"]) < 1.0
    # where the iterations ran is recorded, as one stretch on this machine at the resolved precision
    assert [(s["from"], s["to"], s["precision"]) for s in trainer.segments] == [(0, 12, trainer.precision.name)]


def test_resume_reaches_the_same_state(camvid_root: Path, tmp_path: Path) -> None:
    straight = Trainer(smoke_config(camvid_root, tmp_path / "a", iters=4))
    straight.fit()

    first = Trainer(smoke_config(camvid_root, tmp_path / "b", iters=4))
    first.fit(max_seconds=1e-9)  # stops (and saves) after the first iteration, as an interruption would
    assert first.iteration == 1
    resumed = Trainer(smoke_config(camvid_root, tmp_path / "b", iters=4))
    resumed.resume(tmp_path / "b" / "last.pt")
    assert resumed.iteration == 1
    resumed.fit()

    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=f"{name} differs after resume")
    assert straight.scheduler.last_epoch == resumed.scheduler.last_epoch == 4


def test_bad_config_and_dataset_errors_name_the_problem(camvid_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown config key"):
        load_config(None, ["train.itres=3"])
    with pytest.raises(ValueError, match="must be a number"):
        load_config(None, ["train.iters=lots"])
    cfg = smoke_config(tmp_path / "nowhere", tmp_path / "run", iters=1)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        Trainer(cfg)


def test_class_weights_come_from_the_training_labels(camvid_root: Path, tmp_path: Path) -> None:
    from training.class_weights import class_frequencies

    trainer = Trainer(smoke_config(camvid_root, tmp_path / "run", iters=1, **{"loss.class_weights": "enet"}))
    freq = class_frequencies(trainer.train_set.dataset)
    labels = np.concatenate([trainer.train_set.dataset.load(i)[1].ravel() for i in range(2)])
    labels = labels[labels != 11]
    np.testing.assert_allclose(freq, np.bincount(labels, minlength=11) / labels.size)
    assert trainer.criterion.class_weights is not None and trainer.criterion.class_weights.shape == (11,)
    with pytest.raises(ValueError, match="class_weights must be none or enet"):
        Trainer(smoke_config(camvid_root, tmp_path / "bad", iters=1, **{"loss.class_weights": "inverse"}))


def test_a_later_stage_starts_from_earlier_weights_and_records_its_lineage(camvid_root: Path, tmp_path: Path) -> None:
    first = Trainer(smoke_config(camvid_root, tmp_path / "s1", iters=2))
    first.fit()
    second = Trainer(smoke_config(camvid_root, tmp_path / "s2", iters=1, init_from=str(tmp_path / "s1/last.pt")))
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert second.iteration == 0 and second.scheduler.last_epoch == 0  # fresh schedule
    assert [s["iterations"] for s in second.lineage] == [2]
    assert second.lineage[0]["config"]["output"] == str(tmp_path / "s1")
    second.fit()
    state = torch.load(tmp_path / "s2/last.pt", map_location="cpu", weights_only=True)
    assert state["lineage"] == second.lineage
    with pytest.raises(FileNotFoundError, match="init_from"):
        Trainer(smoke_config(camvid_root, tmp_path / "s3", iters=1, init_from=str(tmp_path / "missing.pt")))


def test_snapshots_are_kept_for_averaging(camvid_root: Path, tmp_path: Path) -> None:
    cfg = smoke_config(
        camvid_root, tmp_path / "run", iters=6, **{"train.snapshot_interval": "2", "train.snapshot_after": "3"}
    )
    Trainer(cfg).fit()
    snapshots = sorted(p.name for p in (tmp_path / "run" / "snapshots").glob("*.pt"))
    assert snapshots == ["iter_000004.pt", "iter_000006.pt"]
    state = torch.load(tmp_path / "run" / "snapshots" / "iter_000004.pt", map_location="cpu", weights_only=True)
    assert state["iteration"] == 4
