"""Export a trained checkpoint as the package's default model and write its model card.

python -m training.ship --checkpoint ~/stdc_runs/camvid_final/last.pt --selection val [--out models/stdc1_camvid.onnx]

The card records what a user needs to trust or reproduce the file: data and protocol (``--selection``: how the
recipe and the shipped checkpoint were chosen, and so whether its test score is a clean one), config,
iterations, hardware, training time, the test scores measured on the exported ONNX itself, and the commit.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
import yaml

from stdc_ros.labels import load_label_set
from stdc_ros.machine import cpu_name
from stdc_ros.metrics import ConfusionMatrix
from stdc_ros.model_tools.export import export_onnx
from stdc_ros.model_tools.int8_card import render_section
from stdc_ros.network import build_stdc
from stdc_ros.plots import plot_iou_bars
from stdc_ros.runtime import create_runtime
from stdc_ros.runtime.engine_cache import file_sha256

from .bn_calibration import recalibrate_batchnorm
from .datasets import CamVid
from .evaluate import evaluate_predictor, format_table, report
from .plots import plot_confusion
from .train import load_training_checkpoint
from .transforms import EvalTransform, TrainTransform


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


BN_SOURCES = ("crops", "frames")
# --selection: what the choice of recipe and checkpoint saw, for the card's protocol paragraph.
SELECTION = {
    "val": "The recipe was decided on CamVid val (training on train only, short schedules), then trained on "
    "train + val, and test was scored once, for this card (no selection on test).",
    "fixed": "The recipe was fixed before any test score was seen (no selection on test).",
    "test": "The recipes of the later stages were chosen after seeing the earlier stages' test scores, and this "
    "model was shipped because it scored higher on test than the one before it: a selection on test, so the test "
    "score below is somewhat optimistic (train + val both train, so nothing else was held out).",
}
BN_SOURCE_WORDS = {"crops": "augmented training crops", "frames": "whole training frames"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True, help="training checkpoint (last.pt)")
    parser.add_argument("--out", type=Path, default=Path("models/stdc1_camvid.onnx"))
    parser.add_argument("--data-root", type=Path, default=Path("../shared/camvid"))
    parser.add_argument("--input-size", type=int, nargs=2, default=[360, 480], metavar=("H", "W"))
    parser.add_argument("--hardware", default=None, help="what it was trained on (default: this machine's CPU)")
    parser.add_argument(
        "--recalibrate-bn",
        nargs="?",
        const="crops",
        choices=BN_SOURCES,
        help="re-estimate BN statistics first, on two passes of augmented training crops (crops, the default: the "
        "inputs training saw, as weight averaging expects) or on whole training frames (frames)",
    )
    parser.add_argument(
        "--flip-average",
        action="store_true",
        help="average with the mirrored image inside the graph (test-time flip; twice the inference cost)",
    )
    parser.add_argument(
        "--selection",
        choices=sorted(SELECTION),
        default=None,
        help="how the recipe and checkpoint were chosen: val (decided on val, test scored once), fixed (recipe "
        "fixed in advance), test (stages kept because they scored higher on test). Required unless --card-only "
        "reuses the card's",
    )
    parser.add_argument("--ablation", type=Path, default=None, help="ablation.json written by training.ablation")
    parser.add_argument("--notes", type=Path, default=None, help="Markdown put in the card after the scores")
    parser.add_argument(
        "--card-only",
        action="store_true",
        help="keep the shipped file and its measured scores; only write the card again (new notes or ablation)",
    )
    args = parser.parse_args(argv)

    state = load_training_checkpoint(args.checkpoint)
    stages = training_stages(state)
    card_path = args.out.parent / "model_card.json"
    if not args.card_only and not args.selection:
        parser.error("--selection is required: say how the recipe and the shipped checkpoint were chosen")
    card = load_card(card_path, args.out, parser) if args.card_only else export_and_score(state, stages, args)
    card["selection"] = args.selection or card.get("selection")
    if card["selection"] not in SELECTION:
        parser.error(f"{card_path} records no selection protocol: give --selection")
    if args.ablation:
        if not args.ablation.is_file():
            parser.error(f"ablation results not found: {args.ablation}")
        card["ablation"] = json.loads(args.ablation.read_text())
    notes = args.notes.read_text().strip() if args.notes else ""
    card_path.write_text(json.dumps(card, indent=2))
    (args.out.parent / "MODEL_CARD.md").write_text(render_card(card, stages, card["test"], notes))
    print(format_table(card["test"]))
    print(f"wrote {args.out} ({card['bytes'] / 1e6:.1f} MB) and {args.out.parent / 'MODEL_CARD.md'}")
    return 0


def load_card(card_path: Path, model: Path, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The card of the model already shipped at ``model`` (its scores are reused; the file must be unchanged)."""
    if not card_path.is_file() or not model.is_file():
        parser.error(f"--card-only needs {model} and {card_path} from an earlier ship")
    card = json.loads(card_path.read_text())
    if card.get("sha256") != file_sha256(model):
        parser.error(f"{model} is not the file {card_path} describes; ship it again without --card-only")
    return card


def bn_dataset(source: str, root: Path, data: dict[str, Any]) -> torch.utils.data.Dataset:
    """Training images for BN re-estimation: two passes of training-augmented crops, or whole frames once."""
    if source == "frames":
        return CamVid(root, data["train_splits"], EvalTransform())
    crops = TrainTransform(
        tuple(data["crop"]), tuple(data["scale"]), data["base_size"], data["ignore_index"], data["jitter"]
    )
    train = CamVid(root, data["train_splits"], crops)
    return torch.utils.data.ConcatDataset([train, train])


def export_and_score(state: dict[str, Any], stages: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Export the checkpoint's model to ONNX, score that file on CamVid test, draw the figures; the card data."""
    cfg = state["config"]
    payload = state["model_checkpoint"]
    model = build_stdc(payload["variant"], int(payload["num_classes"]))
    model.load_state_dict(payload["model"])
    model.eval()
    bn_images = 0
    if args.recalibrate_bn:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # the crops, scales and jitter the transform draws
            bn_images = recalibrate_batchnorm(model, bn_dataset(args.recalibrate_bn, args.data_root, cfg["data"]))
    label_set = load_label_set(cfg["data"]["dataset"])
    size = (args.input_size[0], args.input_size[1])
    export_onnx(model, args.out, input_size=size, label_set=label_set.name, flip_average=args.flip_average)
    digest = file_sha256(args.out)

    test = CamVid(args.data_root, ["test"])

    def score(test_time_flip: bool) -> tuple[ConfusionMatrix, dict[str, Any]]:
        """The file's confusion matrix on test and its report without the matrix."""
        with create_runtime("onnxruntime", args.out, test_time_flip=test_time_flip) as runtime:
            cm = evaluate_predictor(lambda img: runtime.infer(img).labels, test)
        result = report(cm, label_set.names, label_set.drivable)
        del result["confusion_matrix"]
        return cm, result

    cm, result = score(test_time_flip=True)
    # what `test_time_flip: false` (the mirrored pass cut out at load time) gets
    single = score(test_time_flip=False)[1] if args.flip_average else None
    figures = args.out.parent / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    per_class = dict(zip(label_set.names, cm.iou().tolist()))
    plot_iou_bars(per_class, figures / "test_iou_per_class.png", f"CamVid test ({len(test)} frames), per-class IoU")
    plot_confusion(cm.matrix, label_set.names, figures / "test_confusion.png", "CamVid test confusion (row-normalised)")
    copy_stage_logs(stages, figures)
    return {
        "model": f"STDC{payload['variant'][-1]}-Seg, {payload['num_classes']} classes ({label_set.name})",
        "file": str(args.out),
        "sha256": digest,
        "bytes": args.out.stat().st_size,
        "input_size": list(size),
        "flip_average": args.flip_average,
        "test_frames": len(test),
        "iterations": sum(stage["iterations"] for stage in stages),
        "training_seconds": sum(stage["elapsed"] for stage in stages),
        "stages": [
            # the whole config travels with the card: training.onnx_import rebuilds the lineage from it
            {
                "config": stage["config"]["name"],
                "iterations": stage["iterations"],
                "seconds": stage["elapsed"],
                "settings": stage["config"],
                "segments": stage.get("segments", []),
            }
            for stage in stages
        ],
        "hardware": args.hardware or f"{cpu_name()}, {torch.get_num_threads()} threads (CPU only)",
        "commit": _git("rev-parse", "HEAD"),
        "bn_recalibrated_on_train_frames": bn_images,
        "bn_recalibration_source": args.recalibrate_bn,
        "averaged_iterations": list(state.get("averaged_from", [])),
        "test": result,
        **({"test_single_pass": single} if single else {}),
    }


def training_stages(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Every stage that led to this checkpoint, oldest first: (config, iterations, elapsed seconds)."""
    final = {"config": state["config"], "iterations": int(state["iteration"]), "elapsed": float(state["elapsed"]),
             "segments": state.get("segments", [])}  # fmt: skip
    return [*state.get("lineage", []), final]


def copy_stage_logs(stages: list[dict[str, Any]], figures: Path) -> None:
    """Each stage's curves and CSV logs next to the card (when its run folder is still here)."""
    for n, stage in enumerate(stages, 1):
        run = Path(stage["config"]["output"])
        for name, target in (("curves.png", "curves.png"), ("train_log.csv", "train_log.csv"),
                             ("val_log.csv", "val_log.csv")):  # fmt: skip
            if (run / name).is_file():
                shutil.copyfile(run / name, figures / f"stage{n}_{target}")


def describe_stage(n: int, stage: dict[str, Any]) -> list[str]:
    cfg = stage["config"]
    t, d, o, loss = cfg["train"], cfg["data"], cfg["optim"], cfg["loss"]
    weights = loss.get("class_weights", "none")
    start = "from scratch" if n == 1 else f"from the end of stage {n - 1}"
    source = Path("training/configs") / f"{cfg['name']}.yaml"
    where = f"`{source}`" if source.is_file() else f"`{cfg['name']}` (its config is at the end of this card)"
    ran = "; ".join(
        f"iterations {s['from']}-{s['to']} on {s['hardware']}, {s['precision']}, {s['seconds'] / 3600:.2f} h"
        for s in stage.get("segments", [])
    )
    return [
        f"### Stage {n}: {where}, {start}",
        "",
        *([f"- Ran: {ran}."] if ran else []),
        f"- {stage['iterations']} iterations, batch {t['batch_size']}, crops {d['crop'][0]}x{d['crop'][1]} at "
        f"scales {d['scale'][0]}-{d['scale'][1]}, colour jitter {d['jitter']}, flips; "
        f"{stage['elapsed'] / 3600:.2f} h (sum of iteration times).",
        f"- SGD momentum {o['momentum']}, weight decay {o['weight_decay']} (not on BN/bias), lr {o['lr']} "
        f"(x{o['head_lr_mult']} on FFM and heads), {o['warmup_iters']} warmup iterations then poly {o['power']}.",
        "- Loss: OHEM cross-entropy on the main and both auxiliary heads"
        + (" with ENet class weights (1/ln(1.02 + p) from the training labels)" if weights == "enet" else "")
        + (" + detail BCE + Dice" if loss["use_detail"] else " (no detail loss)")
        + ", all weight 1.",
        f"- Curves: ![stage {n} curves](figures/stage{n}_curves.png) (logs: `figures/stage{n}_train_log.csv`, "
        f"`figures/stage{n}_val_log.csv`; validation mIoU on {monitored(cfg)}, for monitoring only).",
        "",
    ]


def monitored(cfg: dict[str, Any]) -> str:
    """The frames a stage's validation curve was measured on, in words."""
    split, limit = cfg["data"].get("val_split", "test"), cfg["train"]["val_limit"]
    if "test_split" not in cfg["data"]:  # configs before the protocol fix took the first N frames
        return f"the first {limit or 'all'} {split} frames"
    return f"{limit} {split} frames spread over the split" if limit else f"all {split} frames"


def describe_averaging(iterations: list[int]) -> list[str]:
    if not iterations:
        return []
    return [
        f"- Weights averaged over {len(iterations)} checkpoints of the last stage (its iterations "
        f"{', '.join(map(str, iterations))}; `python -m training.average`), equal weights.",
    ]


def describe_ablation(ablation: dict[str, Any] | None, names: list[str]) -> list[str]:
    if not ablation:
        return [
            "Not run yet: `make ablation` (`python -m training.ablation --config "
            "training/configs/camvid_ablation.yaml`) trains one schedule with and without the detail loss and scores "
            "both on val.",
        ]
    arms = [ablation["with_detail"], ablation["without_detail"]]
    cfg = ablation["config"]
    split = ablation.get("split", "test")  # ablations before the protocol fix were scored on test
    frames = arms[0].get("frames", arms[0].get("test_frames"))
    lines = [
        f"Schedule `{ablation['schedule']}` trained twice from scratch, identical except for the detail loss: "
        f"{arms[0]['iterations']} iterations, batch {cfg['train']['batch_size']}, crops "
        f"{cfg['data']['crop'][0]}x{cfg['data']['crop'][1]}, lr {cfg['optim']['lr']}; {ablation['data']}; "
        f"{ablation['hardware']}. Scored with PyTorch on all {frames} {split} frames at 360x480.",
        "",
        f"| | detail loss | {split} mIoU (%) | pixel accuracy (%) | " + " | ".join(names) + " |",
        "|---|---|---|---|" + "---|" * len(names),
    ]
    for name, arm in zip(("with detail guidance", "without"), arms):
        per_class = " | ".join(f"{v * 100:.1f}" for v in arm["per_class_iou"])
        lines.append(
            f"| {name} | {'yes' if arm['use_detail'] else 'no'} | {arm['miou'] * 100:.2f} | "
            f"{arm['pixel_accuracy'] * 100:.2f} | {per_class} |"
        )
    delta = (arms[0]["miou"] - arms[1]["miou"]) * 100
    lines += [
        "",
        f"Difference: {delta:+.2f} mIoU points for detail guidance on this schedule. The schedule is much "
        "shorter than the shipped model's and there is one seed per arm: a difference of a few points can be "
        "run-to-run noise. The paper's ablation used its full GPU recipe.",
    ]
    return lines


def describe_single_pass(single: dict[str, Any] | None) -> list[str]:
    """The card's lines for the same file run without its mirrored pass (``test_time_flip: false``)."""
    if not single:
        return []
    return [
        "The same file as a single pass (the node's `test_time_flip: false`, or `create_runtime(..., "
        "test_time_flip=False)`: the mirrored pass is cut out of the graph at load time, half the cost; "
        "`python -m training.evaluate --model models/stdc1_camvid.onnx --single-pass`):",
        "",
        format_table(single),
        "",
    ]


def render_card(
    card: dict[str, Any],
    stages: list[dict[str, Any]],
    result: dict[str, Any],
    notes: str = "",
) -> str:
    size = card.get("input_size", [360, 480])
    flip = card.get("flip_average", False)
    hours = card["training_seconds"] / 3600
    cfg = stages[-1]["config"]
    d = cfg["data"]
    lines = [
        f"# Model card: {Path(card['file']).name}",
        "",
        f"{card['model']}, trained **from scratch** (no ImageNet weights can be had here)"
        + (" with detail guidance." if cfg["loss"]["use_detail"] else " without the detail loss."),
        "",
        "## Conventions",
        "",
        "| | |",
        "|---|---|",
        "| input | `image`: uint8 `[N, H, W, 3]`, **RGB**, any H and W (dynamic) |",
        f"| inside the graph | resize to {size[0]}x{size[1]} (bilinear), normalise with ImageNet mean/std on RGB/255, "
        + (
            "STDC on the image and on its mirror image, logits averaged (the mirror's flipped back: test-time flip, "
            "twice the cost of one pass), "
            if flip
            else "STDC, "
        )
        + "argmax and softmax at network resolution, labels resized back to H x W (nearest) |",
        "| outputs | `labels`: uint8 `[N, H, W]` class ids; `confidence`: float32 `[N, H, W]` (softmax of the chosen "
        "class) |",
        f"| classes | {', '.join(f'{i} {n}' for i, n in enumerate(result['per_class_iou']))} |",
        "| drivable | class 3 (road) |",
        "| metadata | `stdc_ros.*` keys in the ONNX metadata_props: format, input_size, num_classes, variant, "
        "label_set, mean, std, precision, flip_average |",
        "",
        f"sha256 `{card['sha256']}`, {card['bytes'] / 1e6:.1f} MB.",
        "",
        "## Data and protocol",
        "",
        f"CamVid 11-class split at 360x480 (`../shared/camvid`): trained on {' + '.join(d['train_splits'])}, "
        f"scored on test ({card.get('test_frames', 233)} frames), as the STDC and BiSeNet papers do for CamVid. "
        + (
            "The reported weights are the average of the last stage's snapshots, which its config fixes in advance. "
            if card.get("averaged_iterations")
            else "The reported checkpoint is the last one of the last stage. "
        )
        + SELECTION[card["selection"]],
        "",
        "## Training",
        "",
        f"{card['iterations']} iterations in {len(stages)} stage(s), {hours:.2f} h in all on {card['hardware']}.",
        "",
        *[line for n, stage in enumerate(stages, 1) for line in describe_stage(n, stage)],
        *describe_averaging(card.get("averaged_iterations", [])),
        f"- BatchNorm statistics re-estimated on {card['bn_recalibrated_on_train_frames']} "
        f"{BN_SOURCE_WORDS[card.get('bn_recalibration_source') or 'frames']} after training (no labels, no test "
        "data; `--recalibrate-bn`)."
        if card["bn_recalibrated_on_train_frames"]
        else "- BatchNorm statistics as left by training.",
        f"- Commit that produced this file: `{card['commit']}`.",
        "",
        "## CamVid test scores",
        "",
        "Measured on this ONNX file with ONNX Runtime (CPU), single scale"
        + (" with the graph's own flip averaging" if flip else "")
        + ", full 360x480 frames, unlabelled pixels ignored "
        "(`python -m training.evaluate --model models/stdc1_camvid.onnx`).",
        "",
        format_table(result),
        "",
        *describe_single_pass(card.get("test_single_pass")),
        "![per-class IoU](figures/test_iou_per_class.png) ![confusion](figures/test_confusion.png)",
        "",
    ]
    if notes:
        lines += [notes, ""]
    if card.get("int8"):  # the INT8 twin's section (stdc-ros export --int8 --card); a new FP32 file drops it
        lines += [render_section(card["int8"], result), ""]
    lines += ["## Detail-guidance ablation", ""]
    lines += describe_ablation(card.get("ablation"), list(result["per_class_iou"]))
    for n, stage in enumerate(stages, 1):
        config_yaml = yaml.safe_dump(stage["config"], sort_keys=False).rstrip()
        lines += ["", f"## Config of stage {n}", "", "```yaml", config_yaml, "```"]
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
