"""Importing an exported ONNX file back into a trainable network: same function, sensible BN split, lineage."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import onnx
import pytest

pytest.importorskip("torch")  # needs torch: skipped where it is absent (a ROS install, .venv-jazzy)

import torch
import yaml

from stdc_ros.errors import ModelFileError
from stdc_ros.model_tools.onnx_weights import read_onnx_network
from stdc_ros.network import load_checkpoint_model
from training.config import load_config
from training.onnx_import import import_onnx, onnx_lineage

from .test_training_smoke import smoke_config

IMAGES = [(torch.rand(3, 64, 96) * 4 - 2, None) for _ in range(8)]


def logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = model.eval()(x)
    return out[0] if isinstance(out, (tuple, list)) else out


def test_imported_network_computes_what_was_exported(tiny_checkpoint: Path, tiny_onnx: Path) -> None:
    torch.manual_seed(1)
    original = load_checkpoint_model(tiny_checkpoint)
    imported = import_onnx(tiny_onnx, IMAGES, images=8)
    x = torch.randn(2, 3, 96, 128)
    torch.testing.assert_close(logits(imported, x), logits(original, x), rtol=1e-4, atol=1e-4)
    # convolutions without a BN come back as they were
    for key in ("head.classifier.weight", "ffm.attention.0.weight", "ffm.attention.2.weight"):
        torch.testing.assert_close(imported.state_dict()[key], original.state_dict()[key])


def test_running_statistics_are_what_training_batches_will_see(tiny_onnx: Path) -> None:
    imported = import_onnx(tiny_onnx, IMAGES, images=8)
    bn = imported.backbone.stage4[0].blocks[1][1]
    seen = []
    handle = bn.register_forward_pre_hook(lambda _m, inputs: seen.append(inputs[0]))
    logits(imported, torch.stack([x for x, _ in IMAGES]))
    handle.remove()
    batch = seen[0]
    torch.testing.assert_close(batch.mean(dim=(0, 2, 3)), bn.running_mean, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(batch.var(dim=(0, 2, 3), unbiased=False), bn.running_var, rtol=1e-3, atol=1e-3)


def test_files_that_cannot_be_imported_say_why(tiny_onnx: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="not found"):
        read_onnx_network(tmp_path / "missing.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a protobuf at all")
    with pytest.raises(ModelFileError, match=r"broken\.onnx"):
        read_onnx_network(broken)
    proto = onnx.load(str(tiny_onnx))
    for prop in proto.metadata_props:
        if prop.key == "stdc_ros.flip_average":
            prop.value = "true"
    flipped = tmp_path / "flipped.onnx"
    onnx.save(proto, str(flipped))
    with pytest.raises(ModelFileError, match="flip-averaged"):
        read_onnx_network(flipped)
    proto = onnx.load(str(tiny_onnx))
    kept = [i for i in proto.graph.initializer if not i.name.endswith("head.classifier.weight")]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(kept)
    partial = tmp_path / "partial.onnx"
    onnx.save(proto, str(partial))
    with pytest.raises(ModelFileError, match=r"head\.classifier\.weight"):
        read_onnx_network(partial)


def test_lineage_comes_from_the_card_of_this_very_file(tiny_onnx: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    shutil.copyfile(tiny_onnx, model)
    assert onnx_lineage(model) == []  # no card
    first = load_config(None, ["name=stage_a", "train.iters=3000"]).to_dict()
    second = load_config(None, ["name=stage_b", "loss.class_weights=enet"]).to_dict()
    stages = [{"config": "stage_a", "iterations": 3000, "seconds": 7000.0, "settings": first},
              {"config": "stage_b", "iterations": 4800, "seconds": 8000.0, "settings": second}]  # fmt: skip
    card = {"sha256": hashlib.sha256(model.read_bytes()).hexdigest(), "stages": stages}
    (tmp_path / "model_card.json").write_text(json.dumps(card))
    lineage = onnx_lineage(model)
    assert [(s["config"]["name"], s["iterations"], s["elapsed"]) for s in lineage] == [
        ("stage_a", 3000, 7000.0),
        ("stage_b", 4800, 8000.0),
    ]
    assert lineage[1]["config"]["loss"]["class_weights"] == "enet"
    # older cards keep the configs only in MODEL_CARD.md's "Config of stage N" blocks
    old = {**card, "stages": [{k: v for k, v in s.items() if k != "settings"} for s in stages]}
    (tmp_path / "model_card.json").write_text(json.dumps(old))
    assert onnx_lineage(model) == []  # neither source: not carried over
    blocks = [f"## Config of stage {n}\n\n```yaml\n{yaml.safe_dump(c, sort_keys=False).rstrip()}\n```\n"
              for n, c in enumerate((first, second), 1)]  # fmt: skip
    (tmp_path / "MODEL_CARD.md").write_text("# Model card\n\n" + "\n".join(blocks))
    assert onnx_lineage(model) == lineage
    (tmp_path / "model_card.json").write_text(json.dumps({**card, "sha256": "0" * 64}))
    assert onnx_lineage(model) == []  # a card about another file


def test_the_shipped_card_still_gives_its_eleven_stages(repo_root: Path) -> None:
    shipped = repo_root / "models" / "stdc1_camvid.onnx"
    card = json.loads((repo_root / "models" / "model_card.json").read_text())
    if not shipped.is_file() or card.get("sha256") != hashlib.sha256(shipped.read_bytes()).hexdigest():
        pytest.skip("the shipped model and its card differ (a new model being shipped)")
    lineage = onnx_lineage(shipped)
    assert [s["iterations"] for s in lineage] == [s["iterations"] for s in card["stages"]]
    assert lineage[-1]["config"]["name"] == card["stages"][-1]["config"]


def test_a_stage_can_start_from_the_shipped_onnx(camvid_root: Path, tiny_checkpoint: Path, tiny_onnx: Path,
                                                  tmp_path: Path) -> None:  # fmt: skip
    from training.train import Trainer

    trainer = Trainer(smoke_config(camvid_root, tmp_path / "run", iters=1, init_from=str(tiny_onnx)))
    x = torch.randn(1, 3, 96, 128)
    torch.testing.assert_close(logits(trainer.model, x), logits(load_checkpoint_model(tiny_checkpoint), x),
                               rtol=1e-4, atol=1e-4)  # fmt: skip
    assert trainer.lineage == []  # the tiny file has no card
    trainer.fit()
    assert (tmp_path / "run/last.pt").is_file()
