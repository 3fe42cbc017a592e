"""The detail-guidance ablation: two arms of one schedule, differing only in the detail loss, both scored on val."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")  # needs torch: skipped where it is absent (a ROS install, .venv-jazzy)

from training import ablation
from training.ship import describe_ablation

from .test_ship import tiny_camvid

SMALL = ["data.crop=[64,96]", "data.scale=[0.25,0.3]", "train.batch_size=2", "train.iters=2", "train.threads=1",
         "train.log_interval=1", "optim.warmup_iters=0", "loss.class_weights=none"]  # fmt: skip


def test_both_arms_train_the_same_schedule_and_are_scored_on_val(camvid_root: Path, tmp_path: Path) -> None:
    data = tiny_camvid(camvid_root, tmp_path / "camvid")
    config = Path(__file__).resolve().parents[2] / "training/configs/camvid_ablation.yaml"
    argv = ["--config", str(config), f"output={tmp_path / 'ablation'}", f"data.root={data}", *SMALL]
    assert ablation.main(argv) == 0
    summary = json.loads((tmp_path / "ablation" / "ablation.json").read_text())
    with_detail, without = summary["with_detail"], summary["without_detail"]
    assert with_detail["use_detail"] is True and without["use_detail"] is False
    assert with_detail["iterations"] == without["iterations"] == 2
    assert with_detail["split"] == without["split"] == "val" and with_detail["frames"] == 2
    assert 0.0 <= with_detail["miou"] <= 1.0 and 0.0 <= without["miou"] <= 1.0
    logs = {arm: (tmp_path / "ablation" / arm / "train_log.csv").read_text() for arm in ablation.ARMS}
    assert "detail_bce" in logs["with_detail"].splitlines()[0]
    assert "detail_bce" not in logs["without_detail"].splitlines()[0]
    with pytest.raises(SystemExit):
        ablation.main([])

    names = [f"c{i}" for i in range(11)]
    table = describe_ablation(summary, names)
    rows = [line for line in table if line.startswith("| with")]
    assert len(rows) == 2
    assert f"{with_detail['miou'] * 100:.2f}" in rows[0] and f"{without['miou'] * 100:.2f}" in rows[1]
    assert any(line.startswith("Difference:") for line in table) and "| val mIoU (%) |" in table[2]
    assert "Not run yet" in describe_ablation(None, names)[0]
