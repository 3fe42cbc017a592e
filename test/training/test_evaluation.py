"""mIoU from the evaluation code against an independent computation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")  # needs torch: skipped where it is absent (a ROS install, .venv-jazzy)

import torch

from stdc_ros.labels import load_label_set
from stdc_ros.metrics import ConfusionMatrix
from training.datasets import CamVid
from training.evaluate import evaluate_model, evaluate_predictor, report
from training.transforms import EvalTransform


def independent_miou(preds: list[np.ndarray], truths: list[np.ndarray], n: int, ignore: int) -> float:
    """Set-based IoU per class over all frames, written without a confusion matrix."""
    ious = []
    for c in range(n):
        inter = union = 0
        for p, t in zip(preds, truths):
            valid = t != ignore
            inter += int(np.sum((p == c) & (t == c) & valid))
            union += int(np.sum(((p == c) | (t == c)) & valid))
        if union:
            ious.append(inter / union)
    return float(np.mean(ious))


def test_confusion_matrix_agrees_with_independent_iou() -> None:
    rng = np.random.default_rng(0)
    truths = [rng.integers(0, 12, (40, 50)) for _ in range(3)]
    preds = [np.where(rng.random(t.shape) < 0.6, t, rng.integers(0, 11, t.shape)) for t in truths]
    cm = ConfusionMatrix(11, 11)
    for p, t in zip(preds, truths):
        cm.update(p, t)
    assert cm.miou() == pytest.approx(independent_miou(preds, truths, 11, 11), abs=1e-12)
    valid = np.concatenate([t.ravel() for t in truths]) != 11
    correct = np.concatenate([(p == t).ravel() for p, t in zip(preds, truths)])
    assert cm.pixel_accuracy() == pytest.approx(correct[valid].mean())


def test_binary_drivable_iou_and_f1_by_hand() -> None:
    cm = ConfusionMatrix(4, 255)
    truth = np.array([[3, 3, 3, 0, 255]])
    pred = np.array([[3, 3, 1, 3, 3]])
    cm.update(pred, truth)
    iou, f1 = cm.binary([3])
    assert iou == pytest.approx(2 / 4)  # tp 2, fn 1, fp 1 (the ignored pixel does not count)
    assert f1 == pytest.approx(4 / 6)


def test_absent_classes_do_not_count_and_out_of_range_predictions_are_wrong() -> None:
    cm = ConfusionMatrix(3, 255)
    cm.update(np.array([[0, 0, 7]]), np.array([[0, 0, 1]]))
    iou = cm.iou()
    assert iou[0] == 1.0 and iou[1] == 0.0 and np.isnan(iou[2])
    assert cm.miou() == pytest.approx(0.5)


def test_model_evaluation_matches_independent_computation(camvid_root: Path, tiny_checkpoint: Path) -> None:
    from stdc_ros.network import load_checkpoint_model

    data = CamVid(camvid_root, ["test"], EvalTransform())
    data.pairs = data.pairs[:2]
    model = load_checkpoint_model(tiny_checkpoint)
    cm = evaluate_model(model, data, progress=False)
    preds, truths = [], []
    for i in range(len(data)):
        image, label = data[i]
        with torch.no_grad():
            preds.append(model(image[None]).argmax(1)[0].numpy())
        truths.append(label.numpy())
    assert cm.miou() == pytest.approx(independent_miou(preds, truths, 11, 11), abs=1e-12)
    # The generic predictor path scores the same predictions identically.
    by_name = dict(zip([data.name(i) for i in range(len(data))], preds))
    cm2 = evaluate_predictor(lambda img: by_name[_lookup(data, img)], data, progress=False)
    assert cm2.miou() == cm.miou()
    result = report(cm, load_label_set("camvid").names, load_label_set("camvid").drivable)
    assert set(result["per_class_iou"]) == set(load_label_set("camvid").names)


def _lookup(data: CamVid, image: np.ndarray) -> str:
    for i in range(len(data)):
        if np.array_equal(data.load(i)[0], image):
            return data.name(i)
    raise KeyError("frame not in dataset")


@pytest.mark.slow
def test_evaluate_command_scores_a_flip_model_with_and_without_its_mirrored_pass(
    camvid_root: Path, tiny_onnx: Path, tiny_flip_onnx: Path, tmp_path: Path
) -> None:
    import json

    from training.evaluate import main

    def score(path: Path, *extra: str) -> dict:
        out = tmp_path / f"{path.stem}{''.join(extra)}"
        args = ["--model", str(path), "--data-root", str(camvid_root), "--limit", "2", "--out", str(out)]
        assert main([*args, *extra]) == 0
        return json.loads((out / "eval.json").read_text())

    single = score(tiny_flip_onnx, "--single-pass")
    assert single["single_pass"] and single["per_class_iou"] == score(tiny_onnx)["per_class_iou"]
    assert score(tiny_flip_onnx)["miou"] != single["miou"]  # the mirrored pass does change the predictions
