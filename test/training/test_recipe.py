"""make train: one decision on val (each value a short run on train), then the final run with the winner."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from training import recipe

from .test_ship import tiny_camvid

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"
TINY = ("data: {{crop: [64, 96], scale: [0.25, 0.3], limit: 2}}\n"
        "optim: {{warmup_iters: 0}}\n"
        "train: {{iters: {iters}, batch_size: 2, threads: 1, log_interval: 1, val_interval: {val}}}\n")  # fmt: skip


def test_choices_parse() -> None:
    assert recipe.Choice.parse("loss.class_weights=enet,none") == recipe.Choice("loss.class_weights", ["enet", "none"])
    for bad in ("loss.class_weights", "loss.class_weights=enet", "=a,b"):
        with pytest.raises(ValueError, match="must look like"):
            recipe.Choice.parse(bad)


def test_decide_on_val_then_train_the_final_run_and_resume(camvid_root: Path, tmp_path: Path) -> None:
    data = tiny_camvid(camvid_root, tmp_path / "camvid")
    decide = tmp_path / "val.yaml"
    decide.write_text(f"_base_: {CONFIGS / 'camvid_val.yaml'}\n" + TINY.format(iters=1, val=1))
    final = tmp_path / "final.yaml"
    final.write_text(f"_base_: {CONFIGS / 'camvid_final.yaml'}\n" + TINY.format(iters=2, val=0))
    runs = tmp_path / "runs"
    argv = ["--decide", str(decide), "--final", str(final), f"data.root={data}"]
    with pytest.MonkeyPatch.context() as mp:  # each run's folder is ${STDC_RUNS}/<its name>
        mp.setenv("STDC_RUNS", str(runs))
        assert recipe.main(argv) == 0
        record = json.loads((runs / "decisions.json").read_text())["loss.class_weights"]
        scores = record["val_miou"]
        assert set(scores) == {"enet", "none"} and all(0.0 <= v <= 1.0 for v in scores.values())
        best = max(["enet", "none"], key=lambda v: (scores[v], v == "enet"))
        assert record["chosen"] == best
        state_path = runs / "final" / "last.pt"
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        assert state["iteration"] == 2 and state["config"]["loss"]["class_weights"] == best
        assert state["config"]["data"]["train_splits"] == ["train", "val"]
        # a second call trains nothing again: the decisions are read back from their logs, the final run is done
        mtime = state_path.stat().st_mtime_ns
        assert recipe.main(argv) == 0
        assert state_path.stat().st_mtime_ns == mtime
        with (runs / "val_class_weights_enet" / "val_log.csv").open() as f:
            assert [row["iteration"] for row in csv.DictReader(f)] == ["1"]
