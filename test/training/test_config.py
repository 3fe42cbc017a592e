"""Config files: ``_base_`` inheritance (mmsegmentation style), run folders outside the repository, the recipes."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import expand_path, load_config, merge, read_raw, runs_root
from training.train import check_protocol

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_merge_keeps_base_mappings_and_replaces_other_values() -> None:
    base = {"data": {"crop": [360, 480], "scale": [0.5, 2.0], "jitter": 0.5}, "train": {"iters": 10}}
    out = merge(base, {"data": {"crop": [192, 256]}, "train": {"_delete_": True, "batch_size": 4}})
    assert out == {"data": {"crop": [192, 256], "scale": [0.5, 2.0], "jitter": 0.5}, "train": {"batch_size": 4}}
    assert base["data"]["crop"] == [360, 480] and base["train"] == {"iters": 10}  # inputs unchanged


def test_a_file_overrides_its_bases_in_order(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", "name: a\ndata: {crop: [1, 2], jitter: 0.1}\ntrain: {iters: 5, batch_size: 2}\n")
    write(tmp_path / "b.yaml", "_base_: a.yaml\ntrain: {iters: 7}\n")
    write(tmp_path / "c.yaml", "data: {jitter: 0.3}\n")
    child = write(tmp_path / "child.yaml", "_base_: [b.yaml, c.yaml]\ntrain: {batch_size: 3}\n")
    raw = read_raw(child)
    assert raw["name"] == "child"  # never inherited: a derived file is its own experiment
    assert raw["data"] == {"crop": [1, 2], "jitter": 0.3}
    assert raw["train"] == {"iters": 7, "batch_size": 3}
    cfg = load_config(child, ["train.iters=9"])  # command-line overrides come last
    assert (cfg.train.iters, cfg.train.batch_size, cfg.data.crop) == (9, 3, [1, 2])


def test_base_errors_name_the_file(tmp_path: Path) -> None:
    write(tmp_path / "x.yaml", "_base_: y.yaml\n")
    write(tmp_path / "y.yaml", "_base_: x.yaml\n")
    with pytest.raises(ValueError, match=r"cycle: x\.yaml -> y\.yaml -> x\.yaml"):
        read_raw(tmp_path / "x.yaml")
    write(tmp_path / "lost.yaml", "_base_: nowhere.yaml\n")
    with pytest.raises(FileNotFoundError, match=r"nowhere\.yaml \(_base_ of .*lost\.yaml\)"):
        read_raw(tmp_path / "lost.yaml")
    write(tmp_path / "bad.yaml", "_base_: {a: 1}\n")
    with pytest.raises(ValueError, match="_base_ must be"):
        read_raw(tmp_path / "bad.yaml")


def test_run_folders_default_to_stdc_runs_outside_the_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STDC_RUNS", raising=False)
    assert runs_root() == Path.home() / "stdc_runs"
    monkeypatch.setenv("STDC_RUNS", str(tmp_path / "runs"))
    cfg = load_config(CONFIGS / "camvid_final.yaml", ["init_from=${STDC_RUNS}/x/last.pt"])
    assert cfg.output == str(tmp_path / "runs" / "camvid_final")
    assert cfg.init_from == str(tmp_path / "runs" / "x" / "last.pt")
    assert load_config(CONFIGS / "camvid_final.yaml", ["output=~/elsewhere"]).output == str(Path.home() / "elsewhere")
    assert expand_path("") == ""


def test_recipes_are_differences_of_one_base() -> None:
    names = sorted(p.stem for p in CONFIGS.glob("*.yaml"))
    assert names == ["camvid_ablation", "camvid_base", "camvid_final", "camvid_final_gpu", "camvid_val"]
    base = load_config(CONFIGS / "camvid_base.yaml")
    for name in names:
        cfg = load_config(CONFIGS / f"{name}.yaml")
        check_protocol(cfg)  # never monitors on, nor trains on, the test split
        assert cfg.name == name and cfg.data.crop == base.data.crop == [360, 480]
        assert cfg.train.batch_size >= 8 and cfg.loss.use_detail
    final = load_config(CONFIGS / "camvid_final.yaml")
    assert final.data.train_splits == ["train", "val"] and final.data.scale == [0.5, 2.0]
    epochs = final.train.iters * final.train.batch_size / (367 + 101)
    assert epochs >= 1000
    gpu = load_config(CONFIGS / "camvid_final_gpu.yaml")
    for section in ("optim", "loss"):  # the GPU stretch is the same run, so the CPU can continue it exactly
        assert getattr(gpu, section) == getattr(final, section)
    assert (gpu.train.iters, gpu.train.batch_size, gpu.train.seed) == (final.train.iters, 8, final.train.seed)
    val = load_config(CONFIGS / "camvid_val.yaml")
    assert val.data.train_splits == ["train"] and val.data.val_split == "val" and val.train.val_interval > 0
    assert load_config(CONFIGS / "camvid_ablation.yaml").train.iters >= 5000


def test_monitoring_or_training_on_test_is_refused() -> None:
    with pytest.raises(ValueError, match="val_split is the test split"):
        check_protocol(load_config(CONFIGS / "camvid_val.yaml", ["data.val_split=test"]))
    with pytest.raises(ValueError, match="include the test split"):
        check_protocol(load_config(CONFIGS / "camvid_val.yaml", ["data.train_splits=[train,test]"]))
