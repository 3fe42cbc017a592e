"""Every `stdc-ros bench` section declares its options once (a cli_options dataclass): the parser's defaults come
back as the dataclass's documented defaults, and given flags as typed fields. No section is run."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import pytest

from stdc_ros.bench import cli as bench_cli
from stdc_ros.bench.hd_camera import ROWS, ROWS_TEXT, HdCameraSettings, parse_rows
from stdc_ros.bench.suite import Camera30Options, PeerOptions, PhysicalOptions, PostOptions
from stdc_ros.cli_options import cli_fields, options_from


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    bench_cli.add_arguments(parser)
    return parser


def test_every_section_declares_options_that_round_trip_their_defaults() -> None:
    args = _parser().parse_args([])
    for section in bench_cli.SECTIONS:
        assert section.options, f"{section.name} declares no options dataclass"
        for cls in section.options:
            assert cli_fields(cls), cls
            assert options_from(args, cls) == cls(), (section.name, cls.__name__)


def test_section_defaults_are_the_documented_ones() -> None:
    args = _parser().parse_args([])
    assert options_from(args, PostOptions) == PostOptions(size=(360, 480), iters=200)
    assert options_from(args, PhysicalOptions) == PhysicalOptions(
        threads=[1, 2], iters=10, peak_n=2048, peak_repeats=5, variants=[], sizes=[(360, 480)], profile=True
    )
    assert options_from(args, PeerOptions) == PeerOptions(
        threads=[1, 2], calls=["network", "frame"], iters=20, warmup=2, openvino_default=True
    )
    assert options_from(args, Camera30Options) == Camera30Options(
        model="int8", threads=2, hz=30.0, seconds=10.0, size=(360, 480)
    )
    assert options_from(args, HdCameraSettings) == HdCameraSettings(model=None, threads=2, hz=30.0, seconds=10.0)
    assert parse_rows(ROWS_TEXT) == ROWS  # the --hd-rows default text is the settings' default rows
    # the namespace keeps each flag's own text or parsed value (bench.json's "arguments")
    assert (args.physical_variants, args.physical_sizes, args.peer_calls) == ("", "360x480", "network,frame")
    assert (args.post_size, args.physical_threads, args.hd_rows) == ((360, 480), [1, 2], ROWS_TEXT)


def test_section_flags_come_back_typed() -> None:
    argv = (
        "--post-size 60x80 --post-iters 3"
        " --physical-threads 1,4 --physical-iters 2 --peak-n 128 --peak-repeats 1"
        " --physical-variants ' stdc1, stdc2,' --physical-sizes 64x96,96x128 --no-profile"
        " --peer-threads 2 --peer-calls network --peer-iters 5 --peer-warmup 0 --no-openvino-default"
        " --camera30-model fp32 --camera30-threads 1 --camera30-hz 10 --camera30-seconds 1 --camera30-size 96x128"
        " --hd-model m.onnx --hd-threads 1 --hd-hz 5 --hd-seconds 1 --hd-rows 1080x1920:jpeg,96x128"
    )
    args = _parser().parse_args(shlex.split(argv))
    assert options_from(args, PostOptions) == PostOptions(size=(60, 80), iters=3)
    assert options_from(args, PhysicalOptions) == PhysicalOptions(
        threads=[1, 4],
        iters=2,
        peak_n=128,
        peak_repeats=1,
        variants=["stdc1", "stdc2"],
        sizes=[(64, 96), (96, 128)],
        profile=False,
    )
    assert options_from(args, PeerOptions) == PeerOptions(
        threads=[2], calls=["network"], iters=5, warmup=0, openvino_default=False
    )
    assert options_from(args, Camera30Options) == Camera30Options(
        model="fp32", threads=1, hz=10.0, seconds=1.0, size=(96, 128)
    )
    assert options_from(args, HdCameraSettings) == HdCameraSettings(
        model=Path("m.onnx"), threads=1, hz=5.0, seconds=1.0, rows=((1080, 1920, "jpeg"), (96, 128, "bgr8"))
    )


def test_a_bad_section_value_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["--camera30-model", "int4"])
    with pytest.raises(SystemExit):
        _parser().parse_args(["--post-size", "60"])
