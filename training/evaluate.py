"""Evaluate a model on a dataset split: per-class IoU, mIoU, pixel accuracy, drivable IoU, pictures.

python -m training.evaluate --model MODEL.pt|MODEL.onnx [--split test] [--flip] [--scales 0.75 1 1.25]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from stdc_ros.labels import load_label_set
from stdc_ros.metrics import ConfusionMatrix

from .datasets import SegmentationDataset, build_dataset
from .transforms import EvalTransform


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module, image: torch.Tensor, flip: bool = False, scales: Sequence[float] = (1.0,)
) -> torch.Tensor:
    """Class scores (N, C, H, W): the logits for one view, else softmax summed over scales and flips."""
    if not flip and tuple(scales) == (1.0,):
        return model(image)
    h, w = image.shape[-2:]
    total = None
    for s in scales:
        x = image if s == 1.0 else F.interpolate(image, scale_factor=s, mode="bilinear", align_corners=True)
        views = [x, x.flip(-1)] if flip else [x]
        for k, v in enumerate(views):
            logits = model(v)
            if k == 1:
                logits = logits.flip(-1)
            prob = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=True).softmax(1)
            total = prob if total is None else total + prob
    return total


def evaluate_model(
    model: torch.nn.Module,
    dataset: SegmentationDataset,
    device: torch.device | str = "cpu",
    flip: bool = False,
    scales: Sequence[float] = (1.0,),
    progress: bool = True,
) -> ConfusionMatrix:
    """Confusion matrix of a torch model (eval mode) over ``dataset`` (which must use EvalTransform)."""
    from tqdm import tqdm

    model.eval()
    cm = ConfusionMatrix(dataset.num_classes, dataset.ignore_index)
    for i in tqdm(range(len(dataset)), desc="evaluate", disable=not progress, unit="img"):
        image, label = dataset[i]
        prob = predict_logits(model, image[None].to(device), flip, scales)
        cm.update(prob.argmax(1)[0].cpu().numpy(), label.numpy())
    return cm


def evaluate_predictor(
    predict: Callable[[np.ndarray], np.ndarray], dataset: SegmentationDataset, progress: bool = True
) -> ConfusionMatrix:
    """Confusion matrix of any function RGB uint8 (H, W, 3) -> class ids (H, W), e.g. a runtime."""
    from tqdm import tqdm

    cm = ConfusionMatrix(dataset.num_classes, dataset.ignore_index)
    for i in tqdm(range(len(dataset)), desc="evaluate", disable=not progress, unit="img"):
        image, label = dataset.load(i)
        cm.update(predict(image), label)
    return cm


def report(cm: ConfusionMatrix, class_names: Sequence[str], drivable: Sequence[int]) -> dict:
    iou = cm.iou()
    road_iou, road_f1 = cm.binary(drivable)
    return {
        "miou": cm.miou(),
        "pixel_accuracy": cm.pixel_accuracy(),
        "drivable_iou": road_iou,
        "drivable_f1": road_f1,
        "per_class_iou": {name: (None if np.isnan(v) else float(v)) for name, v in zip(class_names, iou)},
        "confusion_matrix": cm.matrix.tolist(),
    }


def format_table(result: dict) -> str:
    lines = ["| class | IoU (%) |", "|---|---|"]
    for name, v in result["per_class_iou"].items():
        lines.append(f"| {name} | {'n/a' if v is None else f'{100 * v:.2f}'} |")
    lines.append(f"| **mIoU** | **{100 * result['miou']:.2f}** |")
    lines.append(f"\npixel accuracy {100 * result['pixel_accuracy']:.2f}%, drivable (road) IoU "
                 f"{100 * result['drivable_iou']:.2f}%, F1 {100 * result['drivable_f1']:.2f}%")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="checkpoint (.pt) or ONNX model (.onnx)")
    parser.add_argument("--dataset", default="camvid", choices=["camvid", "cityscapes"])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/camvid"))
    parser.add_argument("--split", default="test")
    parser.add_argument("--labels", default=None, help="label set name or YAML (default: from the dataset)")
    parser.add_argument("--flip", action="store_true", help="average with the horizontally flipped image")
    parser.add_argument(
        "--single-pass",
        action="store_true",
        help="ONNX: run a flip-averaged model without its mirrored pass (the node's test_time_flip: false)",
    )
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0], help="multi-scale factors")
    parser.add_argument("--limit", type=int, default=0, help="evaluate only the first N frames")
    parser.add_argument("--out", type=Path, default=None, help="folder for JSON, Markdown and pictures")
    args = parser.parse_args(argv)

    from stdc_ros.plots import plot_iou_bars

    from .plots import plot_confusion

    dataset = build_dataset(args.dataset, args.data_root, [args.split], EvalTransform())
    if args.limit:
        dataset.pairs = dataset.pairs[: args.limit]
    labels = load_label_set(args.labels or args.dataset)
    if args.model.suffix == ".onnx":
        if args.flip or args.scales != [1.0]:
            parser.error("--flip and --scales need a torch checkpoint")
        from stdc_ros.runtime import create_runtime

        runtime = create_runtime("onnxruntime", args.model, test_time_flip=not args.single_pass)
        cm = evaluate_predictor(lambda img: runtime.infer(img).labels, dataset)
    else:
        from stdc_ros.network import load_checkpoint_model

        cm = evaluate_model(load_checkpoint_model(args.model), dataset, flip=args.flip, scales=args.scales)
    result = report(cm, labels.names, labels.drivable)
    result.update({"model": str(args.model), "split": args.split, "frames": len(dataset),
                   "flip": args.flip, "scales": args.scales, "single_pass": args.single_pass})  # fmt: skip
    print(format_table(result))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "eval.json").write_text(json.dumps(result, indent=2))
        (args.out / "eval.md").write_text(format_table(result) + "\n")
        per_class = dict(zip(labels.names, cm.iou().tolist()))
        plot_iou_bars(per_class, args.out / "iou_per_class.png", f"{args.split}: per-class IoU")
        plot_confusion(cm.matrix, labels.names, args.out / "confusion.png", f"{args.split}: confusion")
        print(f"wrote {args.out}/eval.json, eval.md, iou_per_class.png, confusion.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
