"""The runtime benchmark: interleaved timings, overhead figures, the `stdc-ros bench` table, JSON and figure."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from stdc_ros.bench import cli as bench_cli
from stdc_ros.bench.runtimes import ORT_GRAPH, ModelSpec, bench_runtimes, percentile_summary
from stdc_ros.cli import main as cli_main


def test_bench_runtimes_measures_every_backend_and_its_overhead(
    tiny_checkpoint: Path, tiny_onnx: Path, tiny_raw_onnx: Path
) -> None:
    spec = ModelSpec("tiny", checkpoint=tiny_checkpoint, onnx_full=tiny_onnx, onnx_raw=tiny_raw_onnx)
    rows = bench_runtimes(None, [spec], sizes=[(96, 128)], warmup=1, iters=3)
    by = {(r["backend"], r["call"]): r for r in rows}
    for backend in ("onnxruntime", ORT_GRAPH, "torch"):
        runtime = by[(backend, "runtime")]
        assert runtime["samples"] == 3 and runtime["size"] == "96x128" and runtime["model"] == "tiny"
        assert runtime["p50_ms"] <= runtime["p90_ms"] <= runtime["p99_ms"]
        assert runtime["overhead_method"] == "stub" and runtime["overhead_pct"] >= 0
        assert (backend, "stub") in by
    assert ("onnxruntime", "network") in by and ("torch", "network") in by
    assert (ORT_GRAPH, "network") not in by  # the whole graph has no separate network call
    assert "pre/post in graph" in by[(ORT_GRAPH, "runtime")]["describe"]


def test_model_file_of_another_size_is_skipped_not_fatal(tiny_onnx: Path) -> None:
    rows = bench_runtimes(["onnxruntime"], [ModelSpec("x", onnx_full=tiny_onnx)], [(64, 64)], 1, 2, stubs=False)
    assert rows == []


def test_percentiles() -> None:
    stats = percentile_summary([10.0] * 98 + [20.0, 30.0])
    assert stats["p50_ms"] == 10.0 and stats["p99_ms"] > 19.0 and stats["samples"] == 100
    assert stats["fps"] == pytest.approx(1000 / stats["mean_ms"])


def test_bench_command_prints_table_writes_json_and_histogram(
    tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench" / "bench.json"
    argv = ["bench", "--sections", "runtimes", "--model", str(tiny_checkpoint), "--backends", "torch"]
    rc = cli_main([*argv, "--sizes", "96x128", "--iters", "2", "--warmup", "1", "-o", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "== runtimes ==" in printed and "p50 ms" in printed and "overhead %" in printed
    report = json.loads(out.read_text())
    assert report["machine"]["cpus"] >= 1 and "load_average_1_5_15" in report["machine"]
    rows = report["sections"]["runtimes"]["rows"]
    assert {r["call"] for r in rows} == {"runtime", "network", "stub", "stub_network"}
    figure = Path(report["sections"]["runtimes"]["figures"][0])
    assert figure.is_file() and figure.read_bytes()[:4] == b"\x89PNG"


def test_sections_are_pluggable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """Another benchmark adds itself as one more entry of SECTIONS."""

    def add_args(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--echo-value", type=int, default=3)

    def run(args: argparse.Namespace, out_dir: Path) -> bench_cli.SectionResult:
        rows = [{"name": "echo", "value": args.echo_value}]
        return bench_cli.SectionResult(rows, bench_cli.format_table(rows, [("name", "name", ""), ("value", "v", "d")]))

    sections = [*bench_cli.SECTIONS, bench_cli.Section("echo", "test section", run, add_args)]
    monkeypatch.setattr(bench_cli, "SECTIONS", sections)
    out = tmp_path / "b.json"
    assert cli_main(["bench", "--sections", "echo", "--echo-value", "7", "-o", str(out)]) == 0
    assert "== echo ==" in capsys.readouterr().out
    assert json.loads(out.read_text())["sections"]["echo"]["rows"] == [{"name": "echo", "value": 7}]
    assert cli_main(["bench", "--sections", "nope", "-o", str(out)]) == 2


def test_runtimes_section_flags_make_its_options() -> None:
    """The runtimes section's flags come back as RuntimesOptions (defaults as the dataclass's); the namespace keeps
    the flag text (bench.json's arguments)."""
    import argparse

    from stdc_ros.bench import cli as bench_cli
    from stdc_ros.cli_options import options_from

    parser = argparse.ArgumentParser()
    bench_cli.add_arguments(parser)
    args = parser.parse_args([])
    assert args.sizes == "360x480,720x960,512x1024"
    assert options_from(args, bench_cli.RuntimesOptions) == bench_cli.RuntimesOptions(
        sizes=[(360, 480), (720, 960), (512, 1024)], variants=["stdc1", "stdc2"]
    )
    argv = ["--backends", "onnxruntime, torch", "--sizes", "64x96,", "--variants", "stdc2", "--model", "m.pt"]
    argv += ["--warmup", "1", "--iters", "2", "--device", "cuda:1", "--threads", "3", "--workdir", "w"]
    assert options_from(parser.parse_args(argv), bench_cli.RuntimesOptions) == bench_cli.RuntimesOptions(
        backends=["onnxruntime", "torch"],
        sizes=[(64, 96)],
        variants=["stdc2"],
        model=Path("m.pt"),
        warmup=1,
        iters=2,
        device="cuda:1",
        threads=3,
        workdir=Path("w"),
    )
