"""The demo's own path, end to end on a handful of shipped CamVid frames, and its agreement with training."""

from __future__ import annotations

from pathlib import Path

import pytest

from stdc_ros.demo import SAMPLE, run_demo, summary
from stdc_ros.resources import find_share_file

pytest.importorskip("torch")  # needs torch: skipped where it is absent (a ROS install, .venv-jazzy)

from training.datasets import SegmentationDataset
from training.evaluate import evaluate_predictor

FRAMES = 4


def sample_dataset(frames: int) -> SegmentationDataset:
    sample = find_share_file(SAMPLE)
    images = sorted((sample / "images").glob("*.png"))[:frames]
    return _Pairs([(p, sample / "labels" / p.name) for p in images])


class _Pairs(SegmentationDataset):
    ignore_index = 11
    num_classes = 11

    def __init__(self, pairs: list[tuple[Path, Path]]) -> None:
        super().__init__(pairs, None, cache=True)


def shipped_or_tiny(tiny_onnx: Path) -> Path:
    try:
        return find_share_file("models/stdc1_camvid.onnx")
    except FileNotFoundError:
        return tiny_onnx


@pytest.mark.slow
def test_demo_runs_end_to_end_and_agrees_with_training_evaluation(tiny_onnx: Path, tmp_path: Path) -> None:
    from stdc_ros.runtime import create_runtime

    model = shipped_or_tiny(tiny_onnx)
    result = run_demo(tmp_path / "demo", model=model, frames=FRAMES, realtime=True, progress=False)
    ll = result.lossless
    assert ll.frames == FRAMES and ll.scored == FRAMES and ll.failed == 0
    for path in (ll.report_md, ll.report_json, ll.iou_png, ll.latency_png, ll.overlays_png, ll.output_bag):
        assert path is not None and Path(path).exists()
    assert result.realtime is not None and result.realtime.frames == FRAMES
    assert result.birdseye is not None and result.birdseye.is_file()
    text = summary(result)
    assert "lossless" in text and "mIoU" in text and str(ll.report_md) in text

    # The training evaluation of the same model on the same frames gives the same mIoU (within 0.5 points).
    with create_runtime("onnxruntime", model) as runtime:
        cm = evaluate_predictor(lambda img: runtime.infer(img).labels, sample_dataset(FRAMES), progress=False)
    assert abs(100 * cm.miou() - 100 * ll.miou) < 0.5
