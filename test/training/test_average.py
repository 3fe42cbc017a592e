"""Weight averaging: the mean of a run's checkpoints, refused across runs, named in the shipped card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")  # needs torch: skipped where it is absent (a ROS install, .venv-jazzy)

import torch

from stdc_ros.errors import ModelFileError
from training import average, ship
from training.train import Trainer

from .test_ship import tiny_camvid
from .test_training_smoke import smoke_config


@pytest.fixture(scope="module")
def snapshots(camvid_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("avg") / "run"
    cfg = smoke_config(camvid_root, run, iters=3, **{"train.snapshot_interval": "1", "train.snapshot_after": "2"})
    Trainer(cfg).fit()
    return run


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model_checkpoint"]["model"]


def test_average_is_the_elementwise_mean(snapshots: Path, camvid_root: Path, tmp_path: Path) -> None:
    inputs = [snapshots / "snapshots/iter_000003.pt", snapshots / "snapshots/iter_000002.pt"]  # any order
    out = tmp_path / "avg.pt"
    assert average.main([*map(str, inputs), "--out", str(out)]) == 0
    state = torch.load(out, map_location="cpu", weights_only=True)
    assert state["averaged_from"] == [2, 3] and state["iteration"] == 3 and "optimizer" not in state
    a, b, mean = weights(inputs[0]), weights(inputs[1]), state["model_checkpoint"]["model"]
    changed = 0
    for key, value in mean.items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (a[key] + b[key]) / 2)
            changed += int(not torch.equal(a[key], b[key]))
        else:
            assert torch.equal(value, a[key])
    assert changed > 10  # the two snapshots really differ, so the mean is a new point

    with pytest.raises(ValueError, match="weight average"):
        Trainer(smoke_config(camvid_root, tmp_path / "r", iters=3)).resume(out)
    with pytest.raises(ValueError, match="already an average"):
        average.average_checkpoints([out, inputs[0]])


def test_bad_inputs_are_refused(snapshots: Path, tmp_path: Path) -> None:
    one = snapshots / "snapshots/iter_000002.pt"
    with pytest.raises(ValueError, match="at least two"):
        average.average_checkpoints([one])
    with pytest.raises(ValueError, match="same iteration"):
        average.average_checkpoints([one, one])
    with pytest.raises(ModelFileError, match=r"not found: .*missing\.pt"):
        average.average_checkpoints([one, tmp_path / "missing.pt"])
    other = torch.load(one, map_location="cpu", weights_only=True)
    other["config"]["name"], other["iteration"] = "another_run", 7
    torch.save(other, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="different runs"):
        average.average_checkpoints([one, tmp_path / "other.pt"])
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match=r"cannot read checkpoint .*junk\.pt"):
        average.average_checkpoints([one, tmp_path / "junk.pt"])
    with pytest.raises(SystemExit):
        average.main([str(one), str(tmp_path / "junk.pt"), "--out", str(tmp_path / "x.pt")])


def test_shipping_an_average_says_so_in_the_card(snapshots: Path, camvid_root: Path, tmp_path: Path) -> None:
    avg = tmp_path / "avg.pt"
    average.main([str(snapshots / "snapshots/iter_000002.pt"), str(snapshots / "last.pt"), "--out", str(avg)])
    data = tiny_camvid(camvid_root, tmp_path / "camvid")
    out = tmp_path / "models" / "m.onnx"
    argv = ["--checkpoint", str(avg), "--out", str(out), "--data-root", str(data), "--input-size", "96", "128"]
    assert ship.main([*argv, "--recalibrate-bn", "--selection", "fixed"]) == 0
    card = json.loads((out.parent / "model_card.json").read_text())
    # Two passes of augmented crops of the 4 training frames, as averaged weights expect.
    assert card["averaged_iterations"] == [2, 3] and card["bn_recalibrated_on_train_frames"] == 8
    assert card["bn_recalibration_source"] == "crops"
    text = (out.parent / "MODEL_CARD.md").read_text()
    assert "Weights averaged over 2 checkpoints" in text and "average of the last stage's snapshots" in text
    assert "fixes in advance. The recipe was fixed before any test score was seen (no selection on test)." in text
    assert "re-estimated on 8 augmented training crops" in text
