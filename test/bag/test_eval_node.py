"""eval through the real segmentation node (a separate process) with the tiny ONNX model: the scores equal an
offline computation with the same runtime on the same frames (the runtime is deterministic)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from stdc_ros.bag.evaluate import evaluate_bag
from stdc_ros.labels import load_label_set
from stdc_ros.metrics import ConfusionMatrix

pytestmark = [
    pytest.mark.ros,
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("stdc_ros.node.segmentation_node") is None,
        reason="the segmentation node is not in this checkout",
    ),
]


def offline_confusion(model: Path, sample_dirs: tuple[Path, Path], count: int) -> ConfusionMatrix:
    from stdc_ros.runtime import create_runtime

    images, labels = sample_dirs
    label_set = load_label_set("camvid")
    cm = ConfusionMatrix(label_set.num_classes, label_set.ignore_index)
    with create_runtime("onnxruntime", model) as runtime:
        for path in sorted(images.glob("*.png"))[:count]:
            rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
            cm.update(runtime.infer(rgb).labels, cv2.imread(str(labels / path.name), cv2.IMREAD_UNCHANGED))
    return cm


def test_lossless_real_node_equals_offline(
    small_bag: Path, tmp_path: Path, tiny_onnx: Path, sample_dirs: tuple[Path, Path], ros_domain_id: int
) -> None:
    out = tmp_path / "eval"
    report = evaluate_bag(
        small_bag, out, "lossless", tiny_onnx, "onnxruntime", domain_id=ros_domain_id, progress=False, settle_s=1.0
    )
    assert (report.frames, report.scored, report.failed, report.dropped) == (4, 4, 0, 0), report.notes
    expected = offline_confusion(tiny_onnx, sample_dirs, 4)
    assert np.array_equal(np.asarray(report.confusion_matrix), expected.matrix)
    assert report.miou == pytest.approx(expected.miou())
    assert report.latency_p50_ms > 0 and report.throughput_fps > 0
    assert "/stdc_eval/out/labels" in report.outputs and "/stdc_eval/out/overlay" in report.outputs
    assert report.output_bag is not None and (report.output_bag / "metadata.yaml").is_file()
    assert (out / "node.log").is_file()


def test_realtime_real_node(small_bag: Path, tmp_path: Path, tiny_onnx: Path, ros_domain_id: int) -> None:
    report = evaluate_bag(
        small_bag,
        tmp_path / "rt",
        "realtime",
        tiny_onnx,
        "onnxruntime",
        domain_id=ros_domain_id,
        progress=False,
        settle_s=1.0,
    )
    assert report.frames == 4 and report.failed == 0
    assert report.processed >= 1 and report.processed + report.dropped == 4
    assert report.latency_p50_ms > 0
