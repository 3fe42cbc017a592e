"""Inference apart from model tooling: ``stdc_ros.runtime`` imports nothing from ``stdc_ros.model_tools`` except the
TensorRT engine builder, lazily, inside the TensorRT backend (read from the source, so nothing is imported here)."""

from __future__ import annotations

import ast
from pathlib import Path

import stdc_ros

PACKAGE = Path(stdc_ros.__file__).parent
ALLOWED = {("tensorrt_backend.py", "stdc_ros.model_tools.tensorrt_build", False)}  # (file, module, top level)


def imported_modules(path: Path) -> set[tuple[str, str, bool]]:
    """(file name, absolute module, imported at module level) for every import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    base = f"stdc_ros.{path.parent.name}"
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            parent = base.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (parent, node.module or "") if p)
            names = [f"{module}.{alias.name}" for alias in node.names] if node.module is None else [module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {(path.name, name, id(node) in top_level) for name in names}
    return found


def test_runtime_imports_only_the_engine_builder_from_model_tools_and_only_lazily() -> None:
    imports = set().union(*(imported_modules(p) for p in sorted((PACKAGE / "runtime").glob("*.py"))))
    tooling = {entry for entry in imports if entry[1].startswith("stdc_ros.model_tools")}
    assert tooling == ALLOWED


def test_model_tools_is_not_imported_by_the_node() -> None:
    imports = set().union(*(imported_modules(p) for p in sorted((PACKAGE / "node").glob("*.py"))))
    assert not {entry for entry in imports if entry[1].startswith("stdc_ros.model_tools")}


def test_the_package_takes_nothing_from_training_or_the_tools_from_training() -> None:
    """stdc_ros is installed without training/ (a folder of the repository), so no module of it may import training;
    and training takes nothing from the benchmark or evaluation tooling."""
    package = set().union(*(imported_modules(p) for p in sorted(PACKAGE.rglob("*.py"))))
    assert not {entry for entry in package if entry[1] == "training" or entry[1].startswith("training.")}
    training = set().union(*(imported_modules(p) for p in sorted((PACKAGE.parent / "training").glob("*.py"))))
    tooling = ("stdc_ros.bench", "stdc_ros.evaluation", "stdc_ros.harness")
    assert not {entry for entry in training if entry[1].startswith(tooling)}
