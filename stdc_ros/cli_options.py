"""A command's options declared once: dataclass fields carry their flag, and the parser is made from them.

``option("--rate", default=1.0, help=...)`` is a dataclass field with its command-line flag in the field metadata;
``add_options(parser, Options)`` adds one argparse argument per such field (in field order) and
``options_from(args, Options)`` turns the parsed namespace back into ``Options``. A flag whose text is not the
field's value names a converter: ``parse`` is the argparse ``type`` (text -> value, a bad value is a usage error;
e.g. runtime.conventions.parse_size for 'HxW') and ``convert`` maps the parsed value to the field (``negated``
makes ``--no-progress`` into ``progress=False``, ``none_word`` makes ``none`` None).
Fields without a flag keep their dataclass default (or are passed to ``options_from`` explicitly).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
CLI_KEY = "stdc_ros.cli"
_UNSET: Any = object()


@dataclasses.dataclass(frozen=True)
class Flag:
    """How one field appears on the command line (argparse keywords, plus the value conversion)."""

    flags: tuple[str, ...]
    help: str | None = None
    parse: Callable[[str], Any] | None = None  # argparse ``type``
    convert: Callable[[Any], Any] | None = None  # parsed value -> field value
    cli_default: Any = _UNSET  # argparse default (shown in --help); unset: the field's default
    choices: Sequence[Any] | None = None
    metavar: str | None = None
    nargs: str | int | None = None
    const: Any = _UNSET
    action: str | None = None
    group: str | None = None  # title of an argument group (created on first use)

    @property
    def positional(self) -> bool:
        return not self.flags[0].startswith("-")

    @property
    def dest(self) -> str:
        """The namespace attribute argparse makes for these flags (first long flag, else the first flag)."""
        if self.positional:
            return self.flags[0]
        long = next((f for f in self.flags if f.startswith("--")), self.flags[0])
        return long.lstrip("-").replace("-", "_")


def option(
    *flags: str,
    default: Any = dataclasses.MISSING,
    default_factory: Callable[[], Any] | Any = dataclasses.MISSING,
    **keywords: Any,
) -> Any:
    """A dataclass field with its command-line flag(s); ``keywords`` are the fields of ``Flag``."""
    if not flags:
        raise ValueError("option() needs at least one flag or positional name")
    return dataclasses.field(
        default=default, default_factory=default_factory, metadata={CLI_KEY: Flag(tuple(flags), **keywords)}
    )


def negated(flag: str, help: str | None = None, **keywords: Any) -> Any:
    """A True-by-default field switched off by a store_true flag such as ``--no-progress``."""
    return option(flag, default=True, help=help, action="store_true", cli_default=False, convert=_not, **keywords)


def _not(value: Any) -> bool:
    return not value


def none_word(value: str | None) -> str | None:
    """'none' (any case) -> None: a flag that may switch a default off, e.g. ``--dds-profile none``."""
    return None if value is None or value.lower() == "none" else value


def cli_fields(cls: type) -> list[tuple[dataclasses.Field[Any], Flag]]:
    """The fields of dataclass ``cls`` that have a flag, in declaration order."""
    return [(f, f.metadata[CLI_KEY]) for f in dataclasses.fields(cls) if CLI_KEY in f.metadata]


def _field_default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def add_options(parser: argparse.ArgumentParser, cls: type) -> None:
    """One argparse argument per flagged field of ``cls``, in field order."""
    groups: dict[str, Any] = {}
    for f, flag in cli_fields(cls):
        target: Any = parser
        if flag.group is not None:
            if flag.group not in groups:
                groups[flag.group] = parser.add_argument_group(flag.group)
            target = groups[flag.group]
        kwargs: dict[str, Any] = {}
        if flag.help is not None:
            kwargs["help"] = flag.help
        if flag.action is not None:
            kwargs["action"] = flag.action
        if flag.parse is not None:
            kwargs["type"] = flag.parse
        for name in ("choices", "metavar", "nargs"):
            if getattr(flag, name) is not None:
                kwargs[name] = getattr(flag, name)
        if flag.const is not _UNSET:
            kwargs["const"] = flag.const
        if flag.cli_default is not _UNSET:
            kwargs["default"] = flag.cli_default
        elif not flag.positional:
            kwargs["default"] = _field_default(f)
        target.add_argument(*flag.flags, **kwargs)


def options_from(args: argparse.Namespace, cls: type[T], **explicit: Any) -> T:
    """``cls`` from a parsed namespace: each flagged field from its flag (converted), plus ``explicit`` values
    for fields whose value needs more than one flag."""
    values: dict[str, Any] = {}
    for f, flag in cli_fields(cls):
        value = getattr(args, flag.dest)
        values[f.name] = flag.convert(value) if flag.convert is not None else value
    values.update(explicit)
    return cls(**values)
