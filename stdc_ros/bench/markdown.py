"""Markdown tables of a `stdc-ros bench` JSON, for docs/performance.md: `python -m stdc_ros.bench.markdown FILE`.

Prints the summary, physical-limit, peak, peer and camera tables of the sections present in the file, each under
its heading, so that a re-run's figures go into the page without copying numbers by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _f(value: Any, spec: str = ".1f", suffix: str = "") -> str:
    return "-" if value is None else f"{format(value, spec)}{suffix}"


def _rows(report: dict[str, Any], section: str) -> list[dict[str, Any]]:
    return [r for r in (report.get("sections", {}).get(section) or {}).get("rows", []) if isinstance(r, dict)]


def summary_table(report: dict[str, Any]) -> str:
    rows = report.get("summary") or []
    header = [
        "model",
        "threads",
        "ORT net",
        "OpenVINO net",
        "OpenVINO default net",
        "ORT frame",
        "OpenVINO frame",
        "ORT frame FPS",
        "INT8 over FP32 (ORT net)",
        "utilisation (best call)",
        "peak GOP/s",
    ]
    body = [
        [
            r["model"],
            str(r["threads"]),
            _f(r.get("ort_network_ms")),
            _f(r.get("ov_network_ms")),
            _f(r.get("ov_default_network_ms")),
            _f(r.get("ort_frame_ms")),
            _f(r.get("ov_frame_ms")),
            _f(r.get("ort_fps")),
            _f(r.get("speedup_vs_fp32"), ".2f", "x"),
            _f(r.get("utilisation_pct"), ".1f", " %"),
            _f(r.get("peak_gops"), ".0f"),
        ]
        for r in rows
    ]
    return md_table(header, body)


def physical_table(report: dict[str, Any]) -> str:
    rows = [r for r in _rows(report, "physical") if "utilisation_pct" in r]
    header = ["model", "backend", "threads", "best", "p50", "achieved GOP/s", "peak GOP/s (kernel)", "util best / p50"]
    body = [
        [
            r["model"],
            r["backend"],
            str(r["threads"]),
            _f(r["best_ms"], ".1f", " ms"),
            _f(r["p50_ms"], ".1f", " ms"),
            _f(r["achieved_gops"], ".0f"),
            f"{_f(r.get('peak_gops'), '.0f')} ({r.get('peak_kernel') or '-'})",
            f"{_f(r.get('utilisation_pct'), '.1f')} % / {_f(r.get('utilisation_p50_pct'), '.1f')} %",
        ]
        for r in rows
    ]
    return md_table(header, body)


def peaks_table(report: dict[str, Any]) -> str:
    peaks = next((r["peaks"] for r in _rows(report, "physical") if "peaks" in r), [])
    best: dict[tuple[str, int], float] = {}
    for p in peaks:
        key = (p["precision"], p["threads"])
        best[key] = max(best.get(key, 0.0), p["best_gops"])
    body = []
    for p in sorted(peaks, key=lambda p: (p["precision"], p["threads"], -p["best_gops"])):
        kernel = (
            f"{p['library']}" + (f", {p['kernel']}" if p["kernel"] else "") + (f"; {p['note']}" if p["note"] else "")
        )
        mark = "**" if p["best_gops"] == best[(p["precision"], p["threads"])] else ""
        body.append(
            [p["precision"], str(p["threads"]), kernel, f"{mark}{p['best_gops']:.0f}{mark}", f"{p['median_gops']:.0f}"]
        )
    return md_table(["precision", "threads", "kernel", "best GOP/s", "median GOP/s"], body)


def peers_table(report: dict[str, Any]) -> str:
    rows = _rows(report, "peers")
    runtimes = list(dict.fromkeys(r["runtime"] for r in rows))
    cells: dict[tuple[str, int, str], dict[str, float]] = {}
    for r in rows:
        cells.setdefault((r["call"], r["threads"], r["model"]), {})[r["runtime"]] = r["p50_ms"]
    body = [
        [call, str(t), model, *(_f(v.get(rt), ".1f", " ms") for rt in runtimes)]
        for (call, t, model), v in cells.items()
    ]
    return md_table(["call", "threads", "file", *runtimes], body)


def camera_table(report: dict[str, Any]) -> str:
    header = ["model", "size", "threads", "camera", "sent", "processed", "dropped", "latency p50 / p99", "goal met"]
    body = [
        [
            f"{r['model']} ({r['file']})",
            r["size"],
            str(r["threads"]),
            f"{r['camera_hz']:g} Hz, {r['seconds']:.1f} s",
            str(r["sent"]),
            f"{r['processed']} ({r['processed_hz']:.1f} Hz)",
            f"{r['dropped']} ({r['drop_pct']:.1f} %; node counted {r['node_dropped']})",
            f"{r['latency_p50_ms']:.1f} / {r['latency_p99_ms']:.1f} ms",
            "yes" if r["goal_met"] else "**no**",
        ]
        for r in _rows(report, "camera30")
    ]
    return md_table(header, body)


TABLES: dict[str, Callable[[dict[str, Any]], str]] = {
    "summary": summary_table,
    "physical limit": physical_table,
    "matmul peaks": peaks_table,
    "peers (p50)": peers_table,
    "camera30": camera_table,
}


def render(report: dict[str, Any]) -> str:
    machine = report.get("machine", {})
    cpu = machine.get("cpu", {})
    parts = [
        f"Run {report.get('started', '?')}: {cpu.get('model', machine.get('processor', '?'))} "
        f"({cpu.get('family_model', '')}), {cpu.get('logical_cpus', machine.get('cpus', '?'))} logical CPUs, ISA "
        f"{', '.join(cpu.get('isa', []))}; load average before {machine.get('load_average_1_5_15')}, after "
        f"{report.get('machine_after', {}).get('load_average_1_5_15')}; onnxruntime {machine.get('onnxruntime')}, "
        f"openvino {machine.get('openvino', 'not installed')}, torch {machine.get('torch', 'not installed')}"
    ]
    for title, table in TABLES.items():
        text = table(report)
        if text.count("\n") > 1:  # more than the header
            parts.append(f"### {title}\n\n{text}")
    return "\n\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stdc_ros.bench.markdown", description=__doc__.split("\n")[0])
    parser.add_argument("report", type=Path, nargs="?", default=Path("runs/bench/bench.json"))
    args = parser.parse_args(argv)
    print(render(json.loads(args.report.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
