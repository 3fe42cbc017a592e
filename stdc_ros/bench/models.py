"""The model files the CPU sections compare: the packaged FP32 and INT8 files, or any the user names.

``--fp32-model`` / ``--int8-model`` (``stdc-ros bench``) default to ``models/stdc1_camvid.onnx`` and
``models/stdc1_camvid_int8.onnx`` where they exist; a missing file leaves its rows out with a line that says so.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

from ..runtime.conventions import format_size, read_model_metadata

log = logging.getLogger(__name__)

PACKAGED = {"fp32": "models/stdc1_camvid.onnx", "int8": "models/stdc1_camvid_int8.onnx"}


@dataclass(frozen=True)
class ModelFile:
    label: str  # "FP32" / "INT8": what the tables print
    path: Path
    precision: str  # from the file's metadata (stdc_ros.precision)
    input_size: tuple[int, int]
    variant: str

    @property
    def size(self) -> str:
        return format_size(self.input_size)


def packaged(precision: str) -> Path | None:
    """The packaged file of ``precision`` (source tree or install), None when it is not there."""
    from ..resources import find_share_file

    try:
        return find_share_file(PACKAGED[precision])
    except FileNotFoundError:
        return None


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model files of the CPU sections (physical, peers, camera30)")
    g.add_argument("--fp32-model", type=Path, help=f"FP32 ONNX file (default: the packaged {PACKAGED['fp32']})")
    g.add_argument("--int8-model", type=Path, help=f"INT8 ONNX file (default: the packaged {PACKAGED['int8']})")


def resolve_models(args: argparse.Namespace) -> tuple[list[ModelFile], list[str]]:
    """The FP32 and INT8 files to compare, and a note per file that is missing (its rows are skipped)."""
    models: list[ModelFile] = []
    notes: list[str] = []
    for precision in ("fp32", "int8"):
        given = getattr(args, f"{precision}_model", None)
        path = Path(given) if given else packaged(precision)
        if path is None or not path.is_file():
            shown = path or PACKAGED[precision]
            notes.append(f"{precision.upper()} model {shown} not found: its rows are skipped")
            continue
        meta = read_model_metadata(path)
        if meta.precision != precision:
            log.warning("%s is given as the %s model but its metadata says %s", path, precision, meta.precision)
        models.append(ModelFile(precision.upper(), path, meta.precision, meta.input_size, meta.variant))
    return models, notes
