"""`stdc-ros export --int8`: an FP32 ``full`` ONNX file -> its INT8 (Q/DQ) twin, calibrated on CamVid frames.

    stdc-ros export --int8 [FP32.onnx] [-o OUT.onnx] [--camvid-root DIR] [--calibration-frames N] [--card]

The FP32 file defaults to the packaged ``models/stdc1_camvid.onnx`` and the output to ``<stem>_int8.onnx`` beside
it. After quantizing, the labels are compared with the FP32 model's on ``--check-frames`` CamVid val frames.
``--card`` writes the INT8 section of the model card next to the output (``model_card.json`` and
``MODEL_CARD.md``), with the test scores of ``python -m training.evaluate --model OUT --out DIR``
(``--test-scores DIR/eval.json``) and an interleaved speed run against FP32 (``--speed-rounds``);
``--card-only`` writes the card for an existing INT8 file without quantizing again.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from .quantize import ACTIVATIONS, CALIBRATIONS, Int8Recipe

log = logging.getLogger(__name__)

PACKAGED_FP32 = "models/stdc1_camvid.onnx"
DEFAULT_MIN_AGREEMENT = 0.97  # the shipped model agrees on 99.6 % of CamVid val pixels


def add_int8_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Int8Recipe()
    group = parser.add_argument_group(
        "INT8 (--int8: quantize an exported FP32 full ONNX file instead of exporting a checkpoint; the positional "
        f"argument is that file, default the packaged {PACKAGED_FP32}; --camvid-root is the calibration source; "
        "--check-frames CamVid val frames are compared with the FP32 model)"
    )
    group.add_argument("--int8", action="store_true", help="quantize the network of an FP32 full ONNX file to INT8")
    group.add_argument("--calibration-frames", type=int, default=defaults.frames, help="CamVid frames to calibrate on")
    group.add_argument(
        "--calibration-split", default="train", choices=("train", "val"), help="CamVid split they come from"
    )
    group.add_argument(
        "--activations",
        choices=ACTIVATIONS,
        default=defaults.activations,
        help="int8: symmetric, zero point 0 (TensorRT builds from it; ONNX Runtime on x86 runs it as the equal "
        "uint8); uint8: asymmetric (CPU only)",
    )
    group.add_argument("--calibration", choices=CALIBRATIONS, default=defaults.calibration, help="calibration method")
    group.add_argument("--percentile", type=float, default=defaults.percentile, help="percentile calibration's cut")
    group.add_argument("--op-types", nargs="+", help="quantize only these op types (default: all ONNX Runtime can)")
    group.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor, not per channel")
    group.add_argument("--qoperator", action="store_true", help="QOperator format instead of Q/DQ")
    group.add_argument(
        "--int8-min-agreement",
        type=float,
        default=DEFAULT_MIN_AGREEMENT,
        help="fail when fewer pixels of the check frames agree with the FP32 model",
    )
    group.add_argument("--card", action="store_true", help="write the INT8 section of the model card beside the output")
    group.add_argument("--card-only", action="store_true", help="write the card for the existing output; no quantizing")
    group.add_argument("--test-scores", type=Path, help="eval.json of training.evaluate on the output, for the card")
    group.add_argument("--speed-rounds", type=int, default=0, help="card: interleaved calls per model (0: no timing)")
    group.add_argument("--notes", type=Path, help="card: Markdown appended to the section (how the recipe was chosen)")


def recipe_from_args(args: argparse.Namespace) -> Int8Recipe:
    return Int8Recipe(
        fmt="qoperator" if args.qoperator else "qdq",
        activations=args.activations,
        per_channel=not args.per_tensor,
        op_types=tuple(args.op_types or ()),
        calibration=args.calibration,
        percentile=args.percentile,
        frames=args.calibration_frames,
    )


def command_line(source: Path, output: Path, root: Path, recipe: Int8Recipe, split: str) -> str:
    """The command that makes this file again (every recipe choice spelled out)."""
    parts = ["stdc-ros export --int8", _shown(source), f"-o {_shown(output)}", f"--camvid-root {root}"]
    parts += [f"--calibration-frames {recipe.frames}", f"--calibration {recipe.calibration}"]
    if split != "train":
        parts.append(f"--calibration-split {split}")
    if recipe.calibration == "percentile":
        parts.append(f"--percentile {recipe.percentile:g}")
    parts.append(f"--activations {recipe.activations}")
    if recipe.op_types:
        parts.append("--op-types " + " ".join(recipe.op_types))
    if not recipe.per_channel:
        parts.append("--per-tensor")
    if recipe.fmt == "qoperator":
        parts.append("--qoperator")
    return " ".join(parts)


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when inside it (the packaged default resolves absolute)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def run_int8(args: argparse.Namespace) -> int:
    from ..resources import find_share_file

    source = Path(args.checkpoint) if args.checkpoint else find_share_file(PACKAGED_FP32)
    output = Path(args.output) if args.output else source.with_name(f"{source.stem}_int8.onnx")
    if not args.card_only:
        code = _quantize(args, source, output)
        if code:
            return code
    elif not output.is_file():
        log.error("--card-only: %s does not exist", output)
        return 2
    agreement = None
    if args.check_frames > 0 and (args.camvid_root / "val.txt").is_file():
        agreement = check_agreement(source, output, args.camvid_root, args.check_frames)
        print(f"INT8 against FP32 on {args.check_frames} CamVid val frames: labels agree on {100 * agreement:.2f}%")
        if agreement < args.int8_min_agreement:
            log.error("agreement %.4f is below %.4f", agreement, args.int8_min_agreement)
            return 1
    elif args.check_frames > 0:
        log.warning("CamVid val not found at %s: skipped the check against FP32", args.camvid_root)
    if args.card or args.card_only:
        from .int8_card import write_card

        entry = card_entry(source, output, args, agreement)
        print(f"wrote {write_card(output.parent / 'model_card.json', entry)} and model_card.json")
    return 0


def _quantize(args: argparse.Namespace, source: Path, output: Path) -> int:
    from .calibration import calibration_images
    from .quantize import quantize_full_model

    try:
        recipe = recipe_from_args(args)
        images = calibration_images(args.camvid_root, recipe.frames, args.calibration_split)
    except (ValueError, FileNotFoundError) as exc:
        log.error("%s", exc)
        return 2
    root = args.camvid_root
    result = quantize_full_model(
        source,
        output,
        images,
        recipe,
        calibration_source=f"{recipe.frames} CamVid {args.calibration_split} frames spread evenly over the split",
        extra_metadata={"int8_command": command_line(source, output, root, recipe, args.calibration_split)},
    )
    print(
        f"wrote {output} ({output.stat().st_size / 1e6:.1f} MB): {recipe.describe()}; "
        f"{result.q_nodes} Q and {result.dq_nodes} DQ nodes; int8 ops: {', '.join(result.quantized_ops)}"
    )
    return 0


def check_agreement(fp32: Path, int8: Path, root: Path, frames: int) -> float:
    """Share of pixels whose label is the same under both models on ``frames`` CamVid val frames."""
    from ..runtime import create_runtime
    from .agreement import load_camvid_frames

    images = [image for _, image in load_camvid_frames(root, frames, split="val")]
    same = total = 0
    with create_runtime("onnxruntime", fp32) as a, create_runtime("onnxruntime", int8) as b:
        for image in images:
            agree = a.infer(image).labels == b.infer(image).labels
            same, total = same + int(agree.sum()), total + agree.size
    return same / total


def card_entry(source: Path, output: Path, args: argparse.Namespace, agreement: float | None) -> dict[str, Any]:
    """``model_card.json["int8"]`` from the output's own metadata plus what was measured."""
    import onnx
    import onnxruntime

    from ..runtime.engine_cache import file_sha256

    props = {p.key: p.value for p in onnx.load_model(str(output), load_external_data=False).metadata_props}
    if props.get("stdc_ros.precision") != "int8":
        raise ValueError(f"{output} is not an INT8 model made by `stdc-ros export --int8`")
    recipe = Int8Recipe(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(props["stdc_ros.int8_recipe"]).items()}
    )
    entry: dict[str, Any] = {
        "file": f"{output.parent.name}/{output.name}",
        "sha256": file_sha256(output),
        "bytes": output.stat().st_size,
        "source": f"{source.parent.name}/{source.name}",
        "source_sha256": props["stdc_ros.int8_source_sha256"],
        "recipe": recipe.to_dict(),
        "recipe_text": recipe.describe(),
        "quantized_ops": json.loads(props.get("stdc_ros.int8_ops", "[]")),
        "calibration": props["stdc_ros.int8_calibration"],
        "tool": props["stdc_ros.int8_tool"],
        "command": props.get("stdc_ros.int8_command", ""),
    }
    if agreement is not None:
        entry["agreement"] = {"overall": agreement, "frames": args.check_frames, "split": "val"}
    if args.test_scores:
        test = json.loads(Path(args.test_scores).read_text())
        entry["test"] = {k: test[k] for k in ("miou", "pixel_accuracy", "drivable_iou", "drivable_f1", "per_class_iou")}
        entry["test"]["frames"] = test.get("frames")
    if args.speed_rounds > 0:
        from .speed import compare_speed, cpu_description

        frame, what = _speed_frame(args.camvid_root)
        rows = compare_speed(source, output, frame, rounds=args.speed_rounds)
        entry["speed"] = {
            "cpu": cpu_description(),
            "onnxruntime": onnxruntime.__version__,
            "frame": what,
            "rounds": args.speed_rounds,
            "rows": [
                {
                    "threads": r.threads,
                    "fp32_network_ms": r.fp32_network_ms,
                    "int8_network_ms": r.int8_network_ms,
                    "fp32_infer_ms": r.fp32_infer_ms,
                    "int8_infer_ms": r.int8_infer_ms,
                }
                for r in rows
            ],
        }
    if args.notes:
        entry["notes"] = Path(args.notes).read_text()
    return entry


def _speed_frame(root: Path) -> tuple[np.ndarray, str]:
    from .agreement import load_camvid_frames

    try:
        name, image = load_camvid_frames(root, 1, split="val")[0]
        return image, f"a {image.shape[0]}x{image.shape[1]} CamVid val frame ({name})"
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (360, 480, 3), dtype=np.uint8), "a 360x480 random frame"
