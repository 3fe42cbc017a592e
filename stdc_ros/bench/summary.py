"""The last table of `stdc-ros bench`: FP32 and INT8, ONNX Runtime and its peer, utilisation, the node and the
30 Hz camera side by side, under the name and ISA of the CPU they were measured on.

Built only from the rows the sections wrote (the JSON holds the same), so it adds no measurement of its own;
a section that did not run leaves its columns or lines out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SUMMARY_COLUMNS = (
    ("model", "model", ""),
    ("threads", "thr", "d"),
    ("ort_network_ms", "ORT net ms", ".1f"),
    ("ov_network_ms", "OpenVINO net ms", ".1f"),
    ("ov_default_network_ms", "OpenVINO default net ms", ".1f"),
    ("ort_frame_ms", "ORT frame ms", ".1f"),
    ("ov_frame_ms", "OpenVINO frame ms", ".1f"),
    ("ort_fps", "ORT frame FPS", ".1f"),
    ("speedup_vs_fp32", "x FP32 (ORT net)", ".2f"),
    ("utilisation_pct", "util % (best)", ".1f"),
    ("peak_gops", "peak GOP/s", ".0f"),
)


def _rows(sections: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    section = sections.get(name) or {}
    return [r for r in section.get("rows", []) if isinstance(r, dict)]


def inference_rows(sections: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per (model, threads): p50s of the peers section, utilisation of the physical section."""
    table: dict[tuple[str, int], dict[str, Any]] = {}

    def row(model: str, threads: int) -> dict[str, Any]:
        return table.setdefault((model, threads), {"model": model, "threads": threads})

    for r in _rows(sections, "peers"):
        runtime = r["runtime"]
        key = "ort" if runtime == "onnxruntime" else "ov" if runtime == "openvino" else "ov_default"
        target = row(r["model"], r["threads"])
        target[f"{key}_{r['call']}_ms"] = r["p50_ms"]
        if key == "ort" and r["call"] == "frame":
            target["ort_fps"] = 1000.0 / r["p50_ms"]
    for r in _rows(sections, "physical"):
        if "utilisation_pct" in r and r.get("backend", "").startswith("onnxruntime"):
            target = row(r["model"], r["threads"])
            target["utilisation_pct"] = r["utilisation_pct"]
            target["peak_gops"] = r["peak_gops"]
            if r.get("p50_ms") is not None:  # when the peers section did not run
                target.setdefault("ort_network_ms", r["p50_ms"])
    for (model, threads), r in table.items():
        fp32 = table.get(("FP32", threads), {}).get("ort_network_ms")
        if model != "FP32" and fp32 and r.get("ort_network_ms"):
            r["speedup_vs_fp32"] = fp32 / r["ort_network_ms"]
    return sorted(table.values(), key=lambda r: (r["threads"], r["model"] != "FP32", r["model"]))


def node_lines(sections: Mapping[str, Any]) -> list[str]:
    """The node section's measured rows and the camera rows, one line each."""
    lines = []
    for r in _rows(sections, "node"):
        if r.get("p50_ms") is not None and r.get("measure"):
            lines.append(
                f"node: {r['measure']} {r.get('size', '')}: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms"
            )
        camera = r.get("camera")
        if isinstance(camera, dict) and "sent" in camera:
            lines.append(
                f"node: camera of the node section ({r.get('runtime', '')}, {r.get('threads')} thread(s)): "
                f"processed {camera['received']} of {camera['sent']}, dropped {camera['drop_pct']:.0f} %, "
                f"p50 {camera['latency_p50_ms']:.1f} ms p99 {camera['latency_p99_ms']:.1f} ms"
            )
    for r in _rows(sections, "camera30"):
        lines.append(
            f"camera30: {r['camera_hz']:g} Hz {r['size']} camera, {r['model']}, {r['threads']} thread(s), every output "
            f"subscribed: processed {r['processed_hz']:.1f} Hz, dropped {r['drop_pct']:.1f} %, latency p50 "
            f"{r['latency_p50_ms']:.1f} ms p99 {r['latency_p99_ms']:.1f} ms (goal {r['goal']}: "
            f"{'met' if r['goal_met'] else 'NOT met'})"
        )
    return lines


def build_summary(sections: Mapping[str, Any], cpu_summary: str) -> tuple[list[dict[str, Any]], str]:
    """(rows for the JSON, the printed text)."""
    from .sections import format_table

    rows = inference_rows(sections)
    used = [c for c in SUMMARY_COLUMNS if c[0] in ("model", "threads") or any(r.get(c[0]) is not None for r in rows)]
    parts = [f"CPU: {cpu_summary}"]
    if rows:
        parts += [
            "p50 ms per call, interleaved on the same files and threads; net = the network alone, frame = image to "
            "labels (ORT: the node's CPU path); OpenVINO default = its own precision choice (see the peers notes)",
            format_table(rows, used),
        ]
    parts += node_lines(sections)
    return rows, "\n".join(parts)
