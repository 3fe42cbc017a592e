"""The prepared GPU run, tested on the CPU: data pack, bounded stretch, handoff in parts, continued on the CPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from training import gpu_run, train
from training.datasets import CamVid
from training.handoff import read_handoff, write_handoff
from training.pack import pack_camvid, unpack

from .test_ship import tiny_camvid

SMALL = ["data.crop=[64,96]", "data.scale=[0.25,0.3]", "train.batch_size=2", "train.threads=1", "data.workers=0",
         "train.log_interval=1", "train.val_interval=0", "optim.warmup_iters=0", "loss.class_weights=none"]  # fmt: skip


def test_pack_holds_train_and_val_as_a_camvid_folder(camvid_root: Path, tmp_path: Path) -> None:
    data = tiny_camvid(camvid_root, tmp_path / "camvid")
    info = pack_camvid(data, ["train", "val"], tmp_path / "pack.tar")
    assert info.splits == {"train": 2, "val": 2} and info.bytes == (tmp_path / "pack.tar").stat().st_size
    root = unpack(tmp_path / "pack.tar", tmp_path / "unpacked")
    original, packed = CamVid(data, ["train", "val"]), CamVid(root, ["train", "val"])
    for i in range(4):
        (image_a, label_a), (image_b, label_b) = original.load(i), packed.load(i)
        np.testing.assert_array_equal(label_a, label_b)  # labels lossless
        assert np.abs(image_a.astype(int) - image_b.astype(int)).mean() < 3.0  # WebP 90: about 1.8
    with pytest.raises(ValueError, match="test split is not packed"):
        pack_camvid(data, ["train", "test"], tmp_path / "bad.tar")


def test_handoff_parts_join_to_the_same_state(tmp_path: Path) -> None:
    model = torch.nn.Linear(64, 64)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(4, 64)).sum().backward()
    optimizer.step()
    state = {"iteration": 3, "model": model.state_dict(), "optimizer": optimizer.state_dict()}
    parts = write_handoff(state, tmp_path / "handoff", part_mib=0.005)
    assert len(parts) > 1 and all(p.stat().st_size <= 0.005 * 2**20 for p in parts)
    back = read_handoff(tmp_path / "handoff")
    assert back["iteration"] == 3
    torch.testing.assert_close(back["model"]["weight"], model.weight.detach())  # weights exact
    momentum = back["optimizer"]["state"][0]["momentum_buffer"]
    assert momentum.dtype == torch.bfloat16
    fresh = torch.optim.SGD(torch.nn.Linear(64, 64).parameters(), lr=0.1, momentum=0.9)
    fresh.load_state_dict(back["optimizer"])  # cast back to the parameters' float32
    restored = fresh.state_dict()["state"][0]["momentum_buffer"]
    assert restored.dtype == torch.float32
    torch.testing.assert_close(restored, optimizer.state_dict()["state"][0]["momentum_buffer"], rtol=1e-2, atol=1e-3)
    parts[-1].write_bytes(parts[-1].read_bytes()[:-1] + b"x")
    with pytest.raises(ValueError, match="do not match the sha256"):
        read_handoff(tmp_path / "handoff")
    parts[0].unlink()
    with pytest.raises(ValueError, match=r"lacks checkpoint\.part00"):
        read_handoff(tmp_path / "handoff")


def test_gpu_stretch_then_the_cpu_continues_the_same_run(camvid_root: Path, tmp_path: Path) -> None:
    data = tiny_camvid(camvid_root, tmp_path / "camvid")
    pack_camvid(data, ["train", "val"], tmp_path / "pack.tar")
    argv = ["--pack", str(tmp_path / "pack.tar"), "--out", str(tmp_path / "gpu"), "--handoff", str(tmp_path / "back"),
            "--data-dir", str(tmp_path / "unpacked")]  # fmt: skip
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):  # no GPU: refused unless asked to run anyway
            gpu_run.main([*argv, "--minutes", "1", *SMALL])
    assert gpu_run.main([*argv, "--minutes", "0.6", "--allow-cpu", *SMALL, "train.iters=2"]) == 0
    index = json.loads((tmp_path / "back" / "handoff.json").read_text())
    assert index["iteration"] == 2 and index["parts"]

    # on the CPU: the final config, this machine's data, resumed from the handoff folder
    cpu = tmp_path / "cpu"
    overrides = [f"output={cpu}", f"data.root={data}", *SMALL, "train.iters=3"]
    final = Path(train.__file__).parent / "configs" / "camvid_final.yaml"
    assert train.main(["--config", str(final), "--resume-from", str(tmp_path / "back"), *overrides]) == 0
    state = torch.load(cpu / "last.pt", map_location="cpu", weights_only=True)
    assert state["iteration"] == 3
    # both stretches ran here at the same precision, so they count as one; on a GPU machine they would be two
    assert [(s["from"], s["to"]) for s in state["segments"]] == [(0, 3)]
    assert state["config"]["name"] == "camvid_final" and state["config"]["data"]["root"] == str(data)
