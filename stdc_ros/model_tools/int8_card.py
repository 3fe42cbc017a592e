"""The INT8 model's section of the model card: ``model_card.json["int8"]`` and ``## INT8 model`` in MODEL_CARD.md.

The JSON entry holds what was measured; the Markdown section is rendered from it (``render_section``), so writing
it again is idempotent and ``training.ship --card-only`` can render it too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HEADING = "## INT8 model"
INSERT_BEFORE = "## Detail-guidance ablation"  # the section follows the FP32 scores and notes
MEASURED = ("agreement", "test", "speed", "notes")  # kept from the card when the same file is described again


def _iou_rows(fp32: dict[str, Any] | None, int8: dict[str, Any]) -> list[str]:
    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{100 * v:.2f}"

    fp32_iou = (fp32 or {}).get("per_class_iou", {})
    rows = ["| class | FP32 IoU (%) | INT8 IoU (%) | difference |", "|---|---|---|---|"]
    for name, v in int8["per_class_iou"].items():
        ref = fp32_iou.get(name)
        diff = "" if v is None or ref is None else f"{100 * (v - ref):+.2f}"
        rows.append(f"| {name} | {pct(ref)} | {pct(v)} | {diff} |")
    ref_miou = (fp32 or {}).get("miou")
    diff = "" if ref_miou is None else f"**{100 * (int8['miou'] - ref_miou):+.2f}**"
    rows.append(f"| **mIoU** | **{pct(ref_miou)}** | **{pct(int8['miou'])}** | {diff} |")
    rows.append("")
    rows.append(
        f"pixel accuracy {pct(int8['pixel_accuracy'])}% (FP32 {pct((fp32 or {}).get('pixel_accuracy'))}%), "
        f"drivable (road) IoU {pct(int8['drivable_iou'])}%"
    )
    return rows


def _speed_rows(speed: dict[str, Any]) -> list[str]:
    rows = [
        f"Measured on **{speed['cpu']}** with ONNX Runtime {speed.get('onnxruntime', '?')} (CPU provider), "
        f"{speed['frame']}: medians of {speed['rounds']} calls per model, FP32 and INT8 alternating call by call in "
        "one run (the machine was shared with other work; the ratio is the figure to read). Network: the session "
        "alone on a prepared input; infer: the node's whole call (resize, normalise, network, argmax, confidence, "
        "resize back).",
        "",
        "| threads | FP32 network (ms) | INT8 network (ms) | speed-up | FP32 infer (ms) | INT8 infer (ms) | speed-up |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in speed["rows"]:
        rows.append(
            f"| {r['threads']} | {r['fp32_network_ms']:.1f} | {r['int8_network_ms']:.1f} | "
            f"**{r['fp32_network_ms'] / r['int8_network_ms']:.2f}x** | {r['fp32_infer_ms']:.1f} | "
            f"{r['int8_infer_ms']:.1f} | **{r['fp32_infer_ms'] / r['int8_infer_ms']:.2f}x** |"
        )
    return rows


def render_section(entry: dict[str, Any], fp32_test: dict[str, Any] | None = None) -> str:
    """The Markdown section for ``entry`` (``model_card.json["int8"]``); ``fp32_test`` is the FP32 card's scores."""
    recipe = entry["recipe"]
    lines = [
        f"{HEADING}: {Path(entry['file']).name}",
        "",
        f"The network of `{Path(entry['source']).name}` (sha256 `{entry['source_sha256'][:16]}...`) quantized to "
        f"INT8 with ONNX Runtime's static quantization ({entry['tool']}). Pre- and post-processing stay float and "
        "exact; inputs, outputs and metadata follow the conventions above, with `stdc_ros.precision` = `int8` and "
        "the recipe in `stdc_ros.int8_*`. The node runs this file by default on a CPU with int8 dot-product "
        "instructions (`precision: auto`: AVX-512 VNNI, AVX-VNNI, AMX, ARM dot product; FP32 on other CPUs, where "
        "int8 ran slower); "
        "`precision: fp32` selects the FP32 file.",
        "",
        f"sha256 `{entry['sha256']}`, {entry['bytes'] / 1e6:.1f} MB.",
        "",
        f"- Recipe: {entry['recipe_text']}.",
        f"- Op types between Q/DQ pairs (int8 kernels): {', '.join(entry['quantized_ops'])}; every other op "
        "(shape arithmetic, the attention's mean) stays float.",
        f"- Calibration: {entry['calibration']}, each through the runtime's own pre-processing (bilinear resize to "
        "the network size, ImageNet normalisation); no test frame is seen.",
        "- Activations are int8 with zero point 0 (symmetric), the Q/DQ form TensorRT builds INT8 engines from "
        "(not run on TensorRT here: no GPU was lent and TensorRT cannot be installed in this workplace). "
        "ONNX Runtime's x86 kernels multiply uint8 by int8, so on x86 the onnxruntime backend runs the same "
        "file with each activation pair as uint8 and zero point 128 (`stdc_ros/runtime/qdq.py`): the same quantized "
        "values by the ONNX definitions (identical outputs with graph optimisations off); the scores and speeds "
        "below are of this view, which is what the node runs."
        if recipe.get("activations") == "int8"
        else "- Activations are uint8 with a zero point (asymmetric): for CPUs only; TensorRT needs int8 "
        "activations with zero point 0 (`--activations int8`).",
        f"- Made by: `{entry['command']}`.",
        "",
    ]
    if entry.get("agreement"):
        a = entry["agreement"]
        lines += [
            f"Labels agree with the FP32 model on {100 * a['overall']:.2f}% of the pixels of {a['frames']} CamVid "
            f"{a['split']} frames (360x480).",
            "",
        ]
    test = entry.get("test")
    if test:
        lines += [
            "### CamVid test scores (INT8)",
            "",
            "All 233 test frames at 360x480, ONNX Runtime CPU, unlabelled pixels ignored "
            f"(`python -m training.evaluate --model {entry['file']}`), beside the FP32 file's scores above:",
            "",
            *_iou_rows(fp32_test, test),
            "",
        ]
    else:
        lines += ["Not yet scored on CamVid test.", ""]
    if entry.get("speed"):
        lines += ["### Speed against FP32", "", *_speed_rows(entry["speed"]), ""]
    if entry.get("notes"):
        lines += [entry["notes"].strip(), ""]
    return "\n".join(lines)


def replace_section(markdown: str, section: str) -> str:
    """``markdown`` with its INT8 section replaced by ``section`` (inserted before the ablation, else at the end)."""
    lines = markdown.split("\n")
    start = next((i for i, line in enumerate(lines) if line.startswith(HEADING)), None)
    if start is not None:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        del lines[start:end]
    else:
        start = next((i for i, line in enumerate(lines) if line.startswith(INSERT_BEFORE)), len(lines))
    body = [*section.rstrip("\n").split("\n"), ""]
    lines[start:start] = body
    return "\n".join(lines)


def write_card(card_json: Path, entry: dict[str, Any]) -> Path:
    """Store ``entry`` as ``model_card.json["int8"]`` and (re)write the section of MODEL_CARD.md beside it.

    Measurements missing from ``entry`` but recorded for the same file (same sha256) are kept."""
    card = json.loads(card_json.read_text()) if card_json.is_file() else {}
    old = card.get("int8") or {}
    if old.get("sha256") == entry["sha256"]:  # same file: keep what was measured before and not again now
        entry = {**{k: old[k] for k in MEASURED if k in old}, **entry}
    card["int8"] = entry
    card_json.write_text(json.dumps(card, indent=2))  # as training.ship writes it
    markdown_path = card_json.with_name("MODEL_CARD.md")
    markdown = markdown_path.read_text() if markdown_path.is_file() else ""
    markdown_path.write_text(replace_section(markdown, render_section(entry, card.get("test"))))
    return markdown_path
