"""Shipping a two-stage run: ONNX export, test scores measured on the file, and a card naming every stage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stdc_ros.runtime import create_runtime
from stdc_ros.runtime.conventions import read_model_metadata

pytest.importorskip("torch")  # needs torch: skipped where it is absent (a ROS install, .venv-jazzy)

from training import ship
from training.datasets import CamVid
from training.train import Trainer

from .test_training_smoke import smoke_config


def tiny_camvid(camvid_root: Path, root: Path, frames: int = 2) -> Path:
    """A CamVid-layout folder whose splits are the first few real frames of each (symlinked)."""
    for split in ("train", "val", "test"):
        lines = (camvid_root / f"{split}.txt").read_text().split("\n")[:frames]
        for line in lines:
            for rel in line.split():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).symlink_to(camvid_root / rel)
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


def independent_miou(model: Path, data: Path, test_time_flip: bool) -> float:
    cm = np.zeros((11, 11), dtype=np.int64)
    test = CamVid(data, ["test"])
    with create_runtime("onnxruntime", model, test_time_flip=test_time_flip) as runtime:
        for i in range(len(test)):
            image, label = test.load(i)
            pred = runtime.infer(image).labels
            keep = label < 11
            cm += np.bincount(label[keep] * 11 + pred[keep], minlength=121).reshape(11, 11)
    union = cm.sum(0) + cm.sum(1) - np.diag(cm)
    present = union > 0
    return float(np.mean(np.diag(cm)[present] / union[present]))


def test_ship_writes_a_card_with_both_stages_and_scores_measured_on_the_onnx(camvid_root: Path, tmp_path: Path) -> None:
    Trainer(smoke_config(camvid_root, tmp_path / "s1", iters=1)).fit()
    stage2 = smoke_config(
        camvid_root, tmp_path / "s2", iters=1, init_from=str(tmp_path / "s1/last.pt"), **{"loss.class_weights": "enet"}
    )
    Trainer(stage2).fit()
    data = tiny_camvid(camvid_root, tmp_path / "camvid")
    notes = tmp_path / "notes.md"
    notes.write_text("**Honest status:** a two-iteration smoke model.\n")
    out = tmp_path / "models" / "m.onnx"
    argv = ["--checkpoint", str(tmp_path / "s2/last.pt"), "--out", str(out), "--data-root", str(data)]
    with pytest.raises(SystemExit):  # the card must say how the recipe and checkpoint were chosen
        ship.main([*argv, "--input-size", "96", "128"])
    shipped = [*argv, "--input-size", "96", "128", "--notes", str(notes), "--flip-average", "--selection", "val"]
    assert ship.main(shipped) == 0

    card = json.loads((out.parent / "model_card.json").read_text())
    assert card["iterations"] == 2 and [s["iterations"] for s in card["stages"]] == [1, 1]
    assert card["flip_average"] and read_model_metadata(out).flip_average
    assert card["selection"] == "val" and card["stages"][1]["settings"]["loss"]["class_weights"] == "enet"
    assert [(s["from"], s["to"]) for s in card["stages"][0]["segments"]] == [(0, 1)]
    # the card's mIoUs are what the shipped file itself scores on the (tiny) test split, with and without its
    # mirrored pass
    assert card["test"]["miou"] == pytest.approx(independent_miou(out, data, test_time_flip=True), rel=1e-12)
    single = card["test_single_pass"]["miou"]
    assert single == pytest.approx(independent_miou(out, data, test_time_flip=False), rel=1e-12)

    text = (out.parent / "MODEL_CARD.md").read_text()
    assert "### Stage 1" in text and "### Stage 2" in text and "from the end of stage 1" in text
    assert "ENet class weights" in text and "Honest status" in text and "## Config of stage 2" in text
    assert "on its mirror image, logits averaged" in text and "with the graph's own flip averaging" in text
    assert "--single-pass" in text and f"**{100 * single:.2f}**" in text
    assert ship.SELECTION["val"] in text and "no selection on test" in text
    assert "validation mIoU on 2 val frames spread over the split" in text and "- Ran: iterations 0-1 on" in text
    for name in ("stage1_curves.png", "stage2_train_log.csv", "test_iou_per_class.png", "test_confusion.png"):
        assert (out.parent / "figures" / name).is_file(), name

    # --card-only writes the card again with new notes, keeping the file and its measured scores
    notes.write_text("**Update:** notes written again.\n")
    assert ship.main([*argv, "--notes", str(notes), "--card-only"]) == 0
    again = json.loads((out.parent / "model_card.json").read_text())
    assert again["test"] == card["test"] and again["sha256"] == card["sha256"] and again["selection"] == "val"
    text = (out.parent / "MODEL_CARD.md").read_text()
    assert "notes written again" in text and "Honest status" not in text and "96x128" in text
    # a selection on test is said as such, never as "no selection on test"
    assert ship.main([*argv, "--card-only", "--selection", "test"]) == 0
    text = (out.parent / "MODEL_CARD.md").read_text()
    assert ship.SELECTION["test"] in text and "no selection on test" not in text
    out.write_bytes(out.read_bytes() + b"\0")  # no longer the file the card describes
    with pytest.raises(SystemExit):
        ship.main([*argv, "--card-only"])
