"""One declaration per node parameter: a dataclass field whose metadata says everything else about it.

``NodeConfig`` (node/parameters.py) and ``DrivableConfig`` (drivable/config.py) declare their fields with
``parameter(default, description, ...)``; the ROS descriptors, the validation ranges, ``config/stdc_ros.yaml`` and
the parameter table of docs/node.md are all made from those fields (no ROS inside, so drivable/ may use it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

_KEY = "stdc_ros.parameter"


@dataclass(frozen=True)
class ParameterInfo:
    """What a field's metadata adds to its name, type and default."""

    description: str  # one line: the ROS descriptor's text and the YAML comment
    name: str = ""  # ROS parameter name where it differs from the field name (e.g. qos.depth for qos_depth)
    read_only: bool = False  # fixed at start; the others can be changed while the node runs
    range: tuple[float, float] | None = None  # inclusive; for an array, the range of every element
    choices: tuple[str, ...] = ()
    geometry: bool = False  # drivable: a change invalidates the precomputed pixel/cell lookups
    doc: str = ""  # longer markdown text for docs/node.md; empty = the description


def parameter(default: Any, description: str, **info: Any) -> Any:
    """A dataclass field with ``default`` and its ParameterInfo (keywords as ParameterInfo's fields)."""
    return dataclasses.field(default=default, metadata={_KEY: ParameterInfo(description, **info)})


def declared_fields(cls: type) -> list[tuple[dataclasses.Field, ParameterInfo]]:
    """(field, info) of every field of the dataclass ``cls`` declared with ``parameter``, in declaration order."""
    return [(f, f.metadata[_KEY]) for f in dataclasses.fields(cls) if _KEY in f.metadata]
