"""config/stdc_ros.yaml and the docs/node.md parameter table are what the parameter declarations make."""

from __future__ import annotations

from pathlib import Path

import yaml

from stdc_ros.node.parameter_docs import (
    DOCS_PATH,
    TABLE_BEGIN,
    TABLE_END,
    YAML_PATH,
    docs_with_table,
    main,
    render_markdown,
    render_yaml,
)
from stdc_ros.node.parameters import LABEL_PARAMETERS, all_parameters, default_values

REPO = Path(__file__).resolve().parents[2]
REGENERATE = "run `python -m stdc_ros.node.parameter_docs --write` after changing a declaration"


def test_committed_params_file_is_the_generated_one() -> None:
    assert (REPO / YAML_PATH).read_text() == render_yaml(), REGENERATE


def test_committed_docs_table_is_the_generated_one() -> None:
    docs = (REPO / DOCS_PATH).read_text()
    assert docs.count(TABLE_BEGIN) == docs.count(TABLE_END) == 1
    assert docs_with_table(docs, render_markdown()) == docs, REGENERATE


def test_generated_yaml_holds_every_default_and_the_ranges_in_its_comments() -> None:
    text = render_yaml()
    tree = yaml.safe_load(text)["/**"]["ros__parameters"]
    defaults = default_values()
    for spec in all_parameters():
        node = tree
        for part in spec.name.split("."):
            node = node[part]
        assert node == defaults[spec.name] and type(node) is type(defaults[spec.name]), spec.name
    assert "depth: 1                # input and output QoS history depth (1 = newest frame only); 1..1000" in text
    assert "one of onnxruntime | tensorrt | torch" in text


def test_generated_table_has_a_row_per_parameter_with_default_live_and_range() -> None:
    rows = {line.split(" | ")[0].strip("| `"): line for line in render_markdown().splitlines()[2:]}
    assert set(rows) == {spec.name for spec in all_parameters()} | set(LABEL_PARAMETERS)
    assert rows["overlay.alpha"].startswith("| `overlay.alpha` | `0.5` | yes | ") and "(0..1)" in rows["overlay.alpha"]
    assert rows["backend"].startswith("| `backend` | `onnxruntime` | no | ")
    assert "one of `onnxruntime`, `tensorrt`, `torch`" in rows["backend"]
    assert rows["drivable.drivable_classes"].startswith("| `drivable.drivable_classes` | `[3]` | yes |")


def test_write_rewrites_both_files_under_a_root(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / YAML_PATH).write_text("stale\n")
    (tmp_path / DOCS_PATH).write_text(f"# title\n\n{TABLE_BEGIN}\n| stale |\n{TABLE_END}\n\nafter\n")
    assert main(["--write", "--root", str(tmp_path)]) == 0
    assert (tmp_path / YAML_PATH).read_text() == render_yaml()
    assert (tmp_path / DOCS_PATH).read_text() == f"# title\n\n{TABLE_BEGIN}\n{render_markdown()}{TABLE_END}\n\nafter\n"
