"""eval through the real segmentation node (a separate process) with the tiny ONNX model: the scores equal an
offline computation with the same runtime on the same frames (the runtime is deterministic)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from stdc_ros.dds_profile import PROFILE_VARIABLES
from stdc_ros.evaluation.evaluate import evaluate_bag
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


@pytest.fixture(scope="module")
def hd_bag(tmp_path_factory: pytest.TempPathFactory, sample_dirs: tuple[Path, Path]) -> Path:
    """Three CamVid frames scaled to 1920x1080 (6.2 MB as bgr8, far over Fast DDS's 512 KB segment), 2 Hz."""
    from stdc_ros.rosbag.make_bag import make_bag

    images, labels = sample_dirs
    root = tmp_path_factory.mktemp("hd")
    (root / "images").mkdir()
    (root / "labels").mkdir()
    for path in sorted(images.glob("*.png"))[:3]:
        cv2.imwrite(str(root / "images" / path.name), cv2.resize(cv2.imread(str(path)), (1920, 1080)))
        label = cv2.imread(str(labels / path.name), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(root / "labels" / path.name), cv2.resize(label, (1920, 1080), interpolation=cv2.INTER_NEAREST))
    return make_bag(root / "images", root / "bag", root / "labels", rate_hz=2.0, encoding="bgr8", progress=False)


def test_realtime_hd_bag_without_transport_loss(
    hd_bag: Path, tmp_path: Path, tiny_onnx: Path, ros_domain_id: int
) -> None:
    """`stdc-ros eval` as users run it (its own process, so its publisher gets the packaged DDS profile before its
    first participant): every 1080p frame reaches the node, and the answers are scored at 1920x1080."""
    out = tmp_path / "eval_hd"
    command = [sys.executable, "-m", "stdc_ros.cli", "eval", str(hd_bag), "--mode", "realtime", "--model"]
    command += [str(tiny_onnx), "--out", str(out), "--domain-id", str(ros_domain_id), "--no-progress", "--no-plots"]
    env = {k: v for k, v in os.environ.items() if k not in PROFILE_VARIABLES and k != "FASTDDS_BUILTIN_TRANSPORTS"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["frames"] == 3 and report["failed"] == 0
    assert report["lost_in_transport"] == 0, report["notes"]
    assert report["scored"] >= 1 and report["scored"] + report["dropped_by_node"] == 3
