"""Files are data, never code: no unsafe loader anywhere in the source tree, and a checkpoint or label file whose
deserialisation would run code is refused without running it."""

from __future__ import annotations

import ast
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SKIP_DIRS = {".venv", "venv", "build", "install", "log", "runs", ".git", "node_modules", "__pycache__", ".eggs"}
PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "marshal", "shelve", "jsonpickle"}
SAFE_YAML_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def _dotted(node: ast.expr) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    parts.append(node.id if isinstance(node, ast.Name) else "<expr>")  # model.eval() vs (build()).eval()
    return ".".join(reversed(parts))


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def unsafe_calls(source: str, path: str = "<string>") -> list[Finding]:
    """Every call that can execute code from data: torch.load without weights_only=True, yaml.load without a
    safe loader (and yaml.unsafe_load/full_load), any pickle-family load, numpy.load(allow_pickle=True),
    pandas.read_pickle, and the eval/exec builtins."""
    findings = []
    tree = ast.parse(source, path)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        head, _, attr = name.rpartition(".")
        line = node.lineno
        if name in ("eval", "exec", "builtins.eval", "builtins.exec"):
            findings.append(Finding(path, line, f"{name}()"))
        elif name == "torch.load":
            flag = _keyword(node, "weights_only")
            if not (isinstance(flag, ast.Constant) and flag.value is True):
                findings.append(Finding(path, line, "torch.load without weights_only=True"))
        elif head == "yaml" and attr in ("unsafe_load", "unsafe_load_all", "full_load", "full_load_all"):
            findings.append(Finding(path, line, name))
        elif head == "yaml" and attr in ("load", "load_all"):
            loader = _keyword(node, "Loader") or (node.args[1] if len(node.args) > 1 else None)
            if loader is None or _dotted(loader).rpartition(".")[2] not in SAFE_YAML_LOADERS:
                findings.append(Finding(path, line, f"{name} without a safe Loader"))
        elif head.split(".")[0] in PICKLE_MODULES and attr in ("load", "loads", "open", "Unpickler"):
            findings.append(Finding(path, line, name))
        elif attr == "load" and head in ("np", "numpy"):
            flag = _keyword(node, "allow_pickle")
            if isinstance(flag, ast.Constant) and flag.value is True:
                findings.append(Finding(path, line, "numpy.load(allow_pickle=True)"))
        elif attr == "read_pickle":
            findings.append(Finding(path, line, name))
    return findings


def python_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [
            d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info") and not d.startswith(".venv")
        ]  # .venv-jazzy too
        for filename in filenames:
            if filename.endswith(".py"):
                yield Path(dirpath) / filename


def test_the_scanner_finds_every_unsafe_pattern() -> None:
    sample = """
import torch, yaml, pickle, numpy as np, dill, marshal, pandas as pd
torch.load(p)
torch.load(p, weights_only=False)
torch.load(p, map_location="cpu", weights_only=True)
yaml.load(text)
yaml.load(text, Loader=yaml.FullLoader)
yaml.load(text, Loader=yaml.SafeLoader)
yaml.unsafe_load(text)
yaml.safe_load(text)
pickle.load(f)
pickle.loads(b)
dill.loads(b)
marshal.loads(b)
np.load(p, allow_pickle=True)
np.load(p)
pd.read_pickle(p)
eval("1 + 1")
exec("x = 1")
model.eval()
build(x).eval()
"""
    found = [f.what for f in unsafe_calls(sample)]
    assert len(found) == 13, found
    assert "torch.load without weights_only=True" in found and "eval()" in found and "exec()" in found


def test_no_unsafe_loader_in_the_source_tree(repo_root: Path) -> None:
    files = list(python_files(repo_root))
    assert len(files) > 50, "the scan found too few files to be meaningful"
    assert any(p.name == "checkpoint.py" for p in files)
    findings = [f for path in files for f in unsafe_calls(path.read_text(), str(path.relative_to(repo_root)))]
    assert not findings, "unsafe loaders:\n" + "\n".join(map(str, findings))


# ------------------------------------------------------------------------------------------- pickle bomb
class Bomb:
    """Unpickling this object calls os.mkdir(marker): any loader that executes pickle code leaves a folder."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.mkdir, (str(self.marker),))


def _bomb_checkpoint(path: Path, marker: Path) -> Path:
    import torch

    from stdc_ros.network.checkpoint import FORMAT

    payload = {"format": FORMAT, "variant": "stdc1", "num_classes": 11, "model": {}, "meta": {"note": Bomb(marker)}}
    torch.save(payload, path)
    return path


def test_a_pickle_bomb_checkpoint_is_refused_without_running_its_code(tmp_path: Path) -> None:
    pytest.importorskip("torch")  # checkpoints are torch files
    from stdc_ros.errors import ModelFileError
    from stdc_ros.network import load_checkpoint_model
    from stdc_ros.runtime import create_runtime

    marker = tmp_path / "code_ran"
    zip_bomb = _bomb_checkpoint(tmp_path / "bomb.pt", marker)
    legacy_bomb = tmp_path / "legacy_bomb.pt"
    legacy_bomb.write_bytes(pickle.dumps({"format": "stdc_ros.model/1", "model": Bomb(marker)}, protocol=2))
    for bomb in (zip_bomb, legacy_bomb):
        with pytest.raises(ModelFileError, match="cannot read checkpoint"):
            load_checkpoint_model(bomb)
        with pytest.raises(ModelFileError):
            create_runtime("torch", bomb)  # what the node does with backend:=torch
        assert not marker.exists(), f"loading {bomb.name} executed its code"

    # The bomb is live: an unsafe load (in a throw-away interpreter) does run it.
    unsafe = f"import torch; torch.load({str(zip_bomb)!r}, weights_only=False)"
    subprocess.run([sys.executable, "-c", unsafe], check=False, capture_output=True, timeout=120)
    assert marker.is_dir(), "the test's bomb is not live: the refusal above proves nothing"


def test_a_label_file_with_python_tags_is_refused_without_running_them(tmp_path: Path) -> None:
    import yaml

    from stdc_ros.labels import load_label_set

    marker = tmp_path / "yaml_code_ran"
    evil = tmp_path / "evil.yaml"
    evil.write_text(
        f"name: !!python/object/apply:os.mkdir [{str(marker)!r}]\nclasses:\n  - {{name: road, color: [128, 64, 128]}}\n"
    )
    with pytest.raises(ValueError, match="not a valid label YAML") as refused:
        load_label_set(evil)
    assert isinstance(refused.value.__cause__, yaml.YAMLError)
    assert not marker.exists()
