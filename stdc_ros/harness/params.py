"""The one builder of ``--ros-args -p name:=value`` arguments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def ros_value(value: Any) -> str:
    """A Python value as a ``-p name:=value`` literal (YAML syntax, as rcl parses it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(ros_value(v) for v in value) + "]"
    return str(value)


def parameter_args(params: Mapping[str, Any]) -> list[str]:
    """``["-p", "name:=value", ...]`` for every parameter, in order."""
    return [arg for key, value in params.items() for arg in ("-p", f"{key}:={ros_value(value)}")]
