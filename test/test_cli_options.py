"""cli_options: argparse flags made from dataclass fields, and the parsed namespace back into the dataclass."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from stdc_ros.cli_options import add_options, cli_fields, negated, none_word, option, options_from
from stdc_ros.runtime.conventions import parse_size


@dataclass(frozen=True)
class Example:
    source: Path = option("source", parse=Path, help="input folder")
    rate_hz: float = option("-r", "--rate", default=2.0, parse=float, help="frames per second")
    mode: str = option("--mode", default="fast", choices=("fast", "slow"))
    size: tuple[int, int] | None = option("--size", default=None, parse=parse_size, metavar="HxW")
    topics: tuple[str, ...] = option("--topics", default=(), cli_default=[], nargs="+", convert=tuple)
    profile: str | None = option("--profile", default="packaged", convert=none_word, group="transport")
    progress: bool = negated("--no-progress", help="no progress bar")
    label: str = "not a flag"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="example", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_options(p, Example)
    return p


def test_flags_made_from_fields() -> None:
    assert [f.name for f, _ in cli_fields(Example)] == [
        "source",
        "rate_hz",
        "mode",
        "size",
        "topics",
        "profile",
        "progress",
    ]
    text = parser().format_help()
    for piece in (
        "source",
        "-r RATE, --rate RATE",
        "frames per second (default: 2.0)",
        "--mode {fast,slow}",
        "--size HxW",
        "--topics TOPICS [TOPICS ...]",
        "transport:",
        "--no-progress",
        "no progress bar (default: False)",
    ):
        assert piece in text, piece
    assert "label" not in text


def test_round_trip_defaults_and_values() -> None:
    assert options_from(parser().parse_args(["in"]), Example) == Example(source=Path("in"))
    args = parser().parse_args(
        shlex.split("in -r 5 --mode slow --size 360x480 --topics /a /b --profile None --no-progress")
    )
    options = options_from(args, Example, label="given")
    assert options == Example(
        source=Path("in"),
        rate_hz=5.0,
        mode="slow",
        size=(360, 480),
        topics=("/a", "/b"),
        profile=None,
        progress=False,
        label="given",
    )


def test_converters() -> None:
    assert none_word("NONE") is None and none_word(None) is None and none_word("packaged") == "packaged"


def test_bad_value_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in (
        (["in", "--size", "360-480"], "invalid parse_size value: '360-480'"),
        (["in", "--rate", "fast"], "invalid float value: 'fast'"),
        (["in", "--mode", "medium"], "invalid choice: 'medium'"),
        ([], "the following arguments are required: source"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            parser().parse_args(argv)
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err


def test_option_needs_a_flag() -> None:
    with pytest.raises(ValueError, match="flag"):
        option(default=1)
