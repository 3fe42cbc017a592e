"""The benchmark sections of `stdc-ros bench` (node, postproc, physical) run end to end on tiny settings and write
their figures; nothing here checks a time (benchmarks are not tests), only that the code path works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stdc_ros.cli import main as cli_main


def _run(tmp_path: Path, sections: str, *extra: str) -> dict:
    out = tmp_path / "bench.json"
    assert cli_main(["bench", "--sections", sections, "-o", str(out), *extra]) == 0
    return json.loads(out.read_text())["sections"]


def test_postproc_and_physical_sections_report_their_figures(
    tmp_path: Path, tiny_onnx: Path, capsys: pytest.CaptureFixture
) -> None:
    pytest.importorskip("torch")  # the physical section compares with torch eager
    sections = _run(
        tmp_path,
        "postproc,physical",
        *("--post-size", "60x80", "--post-iters", "3"),
        *("--fp32-model", str(tiny_onnx), "--int8-model", str(tmp_path / "none.onnx")),
        *("--physical-variants", "stdc1", "--physical-sizes", "64x96", "--physical-threads", "1"),
        *("--physical-iters", "1", "--peak-n", "128", "--peak-repeats", "1"),
    )
    post = sections["postproc"]["rows"]
    assert {r["stage"] for r in post} == {"input decode", "output message", "drivable area"}
    assert any(r["what"] == "rgb8" for r in post) and any(r["what"] == "total" for r in post)
    physical = [r for r in sections["physical"]["rows"] if "model" in r]
    assert {r["backend"] for r in physical} == {"onnxruntime", "torch eager"}
    assert all(r["gmacs"] > 0 and r["utilisation_pct"] > 0 for r in physical)
    printed = capsys.readouterr().out
    assert "== postproc ==" in printed and "== physical ==" in printed and "ONNX Runtime profiler" in printed


def test_onnxruntime_profile_ranks_operator_types(tiny_onnx: Path) -> None:
    pytest.importorskip("torch")  # profiles the exported STDC (without torch tiny_onnx is a two-conv stand-in)
    from stdc_ros.bench.physical import profile_onnxruntime

    ops = profile_onnxruntime(tiny_onnx, iters=1, threads=1)
    assert ops and ops[0]["op"] == "Conv" and abs(sum(o["share_pct"] for o in ops) - 100) < 30


@pytest.mark.ros
@pytest.mark.slow
def test_node_section_measures_bare_node_and_echo(tmp_path: Path, tiny_onnx: Path) -> None:
    sections = _run(
        tmp_path,
        "node",
        *("--node-model", str(tiny_onnx), "--node-size", "96x128", "--node-iters", "3", "--node-rounds", "1"),
        *("--camera-seconds", "1", "--camera-hz", "10"),
    )
    rows = sections["node"]["rows"]
    measured = {r["measure"]: r for r in rows if "p50_ms" in r}
    assert {"bare runtime.infer", "node e2e, labels only", "echo node (transport only)"} <= set(measured)
    assert all(r["n"] == 3 for r in measured.values())
    summary = next(r for r in rows if r["measure"] == "summary")
    assert summary["camera"]["sent"] == 10 and summary["camera"]["received"] >= 1
    assert any("node overhead" in n for n in sections["node"]["notes"])


@pytest.mark.ros
@pytest.mark.slow
def test_camera30_section_streams_a_camera_through_the_node(tmp_path: Path, tiny_onnx: Path) -> None:
    sections = _run(
        tmp_path,
        "camera30",
        *("--int8-model", str(tiny_onnx), "--camera30-size", "96x128", "--camera30-threads", "1"),
        *("--camera30-hz", "10", "--camera30-seconds", "1"),
    )
    (row,) = sections["camera30"]["rows"]
    assert row["sent"] == 10 and 1 <= row["processed"] <= 10 and row["dropped"] == 10 - row["processed"]
    assert row["threads"] == 1 and row["size"] == "96x128" and isinstance(row["goal_met"], bool)
    assert any("10 Hz camera 96x128" in n for n in sections["camera30"]["notes"])


def test_node_section_flags_make_its_settings(tmp_path: Path) -> None:
    """The node section's --node-* flags come back as NodeBenchSettings (defaults as the API's); --node-size is
    height and width; the namespace keeps the flag names (bench.json's arguments)."""
    import argparse

    from stdc_ros.bench import cli as bench_cli
    from stdc_ros.bench.node_overhead import NodeBenchSettings
    from stdc_ros.bench.suite import node_settings

    parser = argparse.ArgumentParser()
    bench_cli.add_arguments(parser)
    assert node_settings(parser.parse_args([])) == NodeBenchSettings()
    args = parser.parse_args(
        [
            *("--node-size", "96x128", "--node-variant", "stdc2", "--node-model", "m.onnx", "--node-iters", "4"),
            *("--node-rounds", "2", "--node-threads", "3", "--camera-hz", "10", "--camera-seconds", "1"),
            *("--model-dir", str(tmp_path)),
        ]
    )
    assert (args.node_iters, args.node_variant) == (4, "stdc2")
    assert node_settings(args) == NodeBenchSettings(
        height=96,
        width=128,
        variant="stdc2",
        model=Path("m.onnx"),
        iters=4,
        rounds=2,
        threads=3,
        camera_hz=10.0,
        camera_seconds=1.0,
        model_dir=tmp_path,
    )
