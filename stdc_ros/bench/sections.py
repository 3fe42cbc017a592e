"""What a benchmark section is and returns, and the plain-text table every section prints.

Apart from ``cli`` so that the sections (suite, hdcamera, ...) and the command both import it without a cycle.
A section declares its options once, as ``cli_options`` dataclasses: ``Section.options`` become its flags (one help
group titled ``Section.title``) and its run function reads them back with ``options_from(args, ...)``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..cli_options import add_options


@dataclass
class SectionResult:
    rows: list[dict]  # written to the JSON under the section's name
    table: str  # printed
    figures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Section:
    name: str
    help: str
    run: Callable[[argparse.Namespace, Path], SectionResult]  # (args, output folder) -> result
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None  # flags not declared by ``options``
    options: tuple[type, ...] = ()  # cli_options dataclasses: the section's flags, in field order
    title: str = ""  # the help group of ``options``

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """The section's flags: its options' fields in one argument group, then any ``add_arguments``."""
        if self.options:
            group = parser.add_argument_group(self.title or f"{self.name} section")
            for cls in self.options:
                add_options(group, cls)  # type: ignore[arg-type]  # a group adds arguments as a parser does
        if self.add_arguments is not None:
            self.add_arguments(parser)


def format_table(rows: Sequence[dict], columns: Sequence[tuple[str, str, str]]) -> str:
    """Plain-text table; ``columns`` are (key, header, format spec) and missing values print as '-'."""
    cells = [[header for _, header, _ in columns]]
    for row in rows:
        cells.append([format(row[key], spec) if row.get(key) is not None else "-" for key, _, spec in columns])
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
