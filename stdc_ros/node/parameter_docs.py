"""config/stdc_ros.yaml and the parameter table of docs/node.md, made from the parameter declarations.

    python -m stdc_ros.node.parameter_docs --yaml       # print the params file
    python -m stdc_ros.node.parameter_docs --markdown   # print the docs table
    python -m stdc_ros.node.parameter_docs --write      # rewrite both in the repository (run from its root)

test/node/test_parameter_docs.py checks that the committed files equal what this module makes.
"""

from __future__ import annotations

import argparse
import json
import logging
import textwrap
from pathlib import Path
from typing import Any

from .parameters import LABEL_PARAMETERS, ParamSpec, all_parameters, default_values

YAML_PATH = Path("config") / "stdc_ros.yaml"
DOCS_PATH = Path("docs") / "node.md"
TABLE_BEGIN = (
    "<!-- parameter table: made by `python -m stdc_ros.node.parameter_docs --write`; edit the declarations -->"
)
TABLE_END = "<!-- end of the parameter table -->"

_YAML_HEADER = """\
# stdc_ros segmentation node: every parameter with its default. `stdc-ros run` loads this file by default,
# the launch file passes it as params_file. Read-only parameters apply at start; the others can be changed
# live (ros2 param set / SetParameters) and invalid values are refused with a reason. See docs/node.md.
# Not listed: labels.names / labels.colors (read-only, always taken from the label_set file) and ROS's own
# use_sim_time.
# Made by `python -m stdc_ros.node.parameter_docs --write` from the declarations (NodeConfig in
# stdc_ros/node/parameters.py, DrivableConfig in stdc_ros/drivable/config.py): edit those, not this file.
/**:
  ros__parameters:
"""
# Section comments of the params file, before the parameter that opens each section.
_YAML_SECTIONS = {
    "model_path": "model and inference (read-only)",
    "image_transport": "input (read-only)",
    "overlay.alpha": "outputs (tunable live)",
    "diagnostics.no_input_timeout": "diagnostics on /diagnostics (tunable live)",
    "rectified": "drivable geometry sources (tunable live)",
    "drivable.drivable_classes": (
        "drivable area (tunable live); outputs ~/out/drivable_mask, ~/out/drivable_grid, ~/out/freespace_scan"
    ),
}
_COMMENT_COLUMN = 30
_WIDTH = 120


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _value(value: Any) -> str:
    """A default as YAML flow text (strings double-quoted, as ``ros2 param dump`` reads them back)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def _constraints(spec: ParamSpec, markdown: bool = False) -> str:
    if spec.choices:
        return "one of " + (", ".join(f"`{c}`" for c in spec.choices) if markdown else " | ".join(spec.choices))
    if spec.range is not None:
        return f"{_number(spec.range[0])}..{_number(spec.range[1])}"
    return ""


def render_yaml() -> str:
    """The params file: every parameter with its default and its description, grouped as the ROS names nest."""
    defaults = default_values()
    lines = [_YAML_HEADER.rstrip("\n")]
    open_path: list[str] = []
    for spec in all_parameters():
        *path, key = spec.name.split(".")
        if spec.name in _YAML_SECTIONS:
            open_path = []
            lines.append(f"    # --- {_YAML_SECTIONS[spec.name]}")
        common = 0
        while common < min(len(path), len(open_path)) and path[common] == open_path[common]:
            common += 1
        for depth in range(common, len(path)):
            lines.append(" " * (4 + 2 * depth) + f"{path[depth]}:")
        open_path = path
        entry = " " * (4 + 2 * len(path)) + f"{key}: {_value(defaults[spec.name])}"
        comment = "; ".join(text for text in (spec.description, _constraints(spec)) if text)
        column = max(_COMMENT_COLUMN, len(entry) + 2)
        wrapped = textwrap.wrap(comment, width=_WIDTH - column - 2) or [""]
        lines.append(entry.ljust(column) + "# " + wrapped[0])
        lines += [" " * column + "# " + more for more in wrapped[1:]]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown_default(value: Any) -> str:
    return "`" + (_value(value) if isinstance(value, (list, tuple)) or value == "" else _value(value).strip('"')) + "`"


def render_markdown() -> str:
    """The docs table: parameter, default, live or not, meaning (the declaration's doc text, else its description)."""
    defaults = default_values()
    rows = ["| parameter | default | live | meaning |", "|---|---|---|---|"]
    for spec in all_parameters():
        meaning = spec.doc or spec.description
        constraints = _constraints(spec, markdown=True)
        if constraints:
            meaning += f" ({constraints})"
        live = "no" if spec.read_only else "yes"
        rows.append(f"| `{spec.name}` | {_markdown_default(defaults[spec.name])} | {live} | {_cell(meaning)} |")
    for name, description in LABEL_PARAMETERS.items():
        rows.append(
            f"| `{name}` | from `label_set` | no | {_cell(description)} (informational, cannot be overridden) |"
        )
    return "\n".join(rows) + "\n"


def docs_with_table(docs: str, table: str) -> str:
    """``docs`` with the text between the table markers replaced by ``table``."""
    begin, end = docs.index(TABLE_BEGIN) + len(TABLE_BEGIN), docs.index(TABLE_END)
    return docs[:begin] + "\n" + table + docs[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--yaml", action="store_true", help="print config/stdc_ros.yaml")
    group.add_argument("--markdown", action="store_true", help="print the parameter table of docs/node.md")
    group.add_argument("--write", action="store_true", help="rewrite both files under --root")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: here)")
    args = parser.parse_args(argv)
    if args.yaml:
        print(render_yaml(), end="")
    elif args.markdown:
        print(render_markdown(), end="")
    else:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        (args.root / YAML_PATH).write_text(render_yaml())
        docs = args.root / DOCS_PATH
        docs.write_text(docs_with_table(docs.read_text(), render_markdown()))
        logging.info("wrote %s and the parameter table of %s", YAML_PATH, DOCS_PATH)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
