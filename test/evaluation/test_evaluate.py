"""eval against known answers: ground truth scored against itself (mIoU 100), a constant prediction (its IoU by
hand), through recorded predictions and through a live (fake) node in both modes; reports and output bag."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from stdc_ros.evaluation import evaluate as evaluate_module
from stdc_ros.evaluation.evaluate import evaluate_bag
from stdc_ros.harness.node_process import NodeProcessError
from stdc_ros.rosbag.io import bag_summary

from ..bagtools import START_NS, constant_labels, copy_bag, topic_messages

GT = "/camera/labels_gt"
ROAD = 3
IGNORE = 11
NUM_CLASSES = 11


def sample_truth(labels_dir: Path, count: int) -> list[np.ndarray]:
    return [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(labels_dir.glob("*.png"))[:count]]


def constant_road_answer(truths: list[np.ndarray]) -> dict[str, float]:
    """IoU by hand of predicting road everywhere: road IoU = road pixels / labelled pixels, every other class
    present in the truth 0, absent classes n/a; drivable (road) IoU the same, F1 = 2 tp / (2 tp + fp)."""
    truth = np.concatenate([t.ravel() for t in truths])
    labelled = truth[truth != IGNORE]
    road = int((labelled == ROAD).sum())
    present = len(np.unique(labelled))
    road_iou = road / labelled.size
    return {
        "road_iou": road_iou,
        "miou": road_iou / present,
        "f1": 2 * road / (2 * road + (labelled.size - road)),
        "present": present,
    }


def check_report_files(report: object, out: Path) -> dict:
    for name in ("report.md", "report.json", "iou_per_class.png", "latency_hist.png", "overlays_strip.png"):
        assert (out / name).is_file(), name
    assert cv2.imread(str(out / "overlays_strip.png")) is not None
    data = json.loads((out / "report.json").read_text())
    assert data["miou"] == pytest.approx(report.miou)  # type: ignore[attr-defined]
    assert "mIoU" in (out / "report.md").read_text()
    return data


def test_ground_truth_against_itself_is_100(small_bag: Path, tmp_path: Path) -> None:
    out = tmp_path / "self"
    report = evaluate_bag(small_bag, out, "recorded", predictions_topic=GT, progress=False)
    assert (report.frames, report.processed, report.scored, report.dropped, report.failed) == (4, 4, 4, 0, 0)
    assert report.miou == pytest.approx(1.0)
    assert report.pixel_accuracy == pytest.approx(1.0)
    assert (report.drivable_iou, report.drivable_f1) == (pytest.approx(1.0), pytest.approx(1.0))
    assert all(v is None or v == pytest.approx(1.0) for v in report.per_class_iou.values())
    assert report.latency_p50_ms == pytest.approx(0.0)  # recorded: log time - stamp, both equal in a made bag
    data = check_report_files(report, out)
    assert data["per_class_iou"]["road"] == pytest.approx(1.0)
    assert report.output_bag is None


def test_constant_prediction_known_iou(small_bag: Path, tmp_path: Path, sample_dirs: tuple[Path, Path]) -> None:
    extra = [
        ("/stdc/out/labels", "sensor_msgs/msg/Image", t + 30_000_000, constant_labels(raw, ROAD))
        for t, raw in _raw_messages(small_bag, GT)
    ]
    bag = copy_bag(small_bag, tmp_path / "with_predictions", extra=extra)
    report = evaluate_bag(bag, tmp_path / "const", "recorded", progress=False)  # finds .../out/labels itself
    answer = constant_road_answer(sample_truth(sample_dirs[1], 4))
    assert report.per_class_iou["road"] == pytest.approx(answer["road_iou"])
    assert report.miou == pytest.approx(answer["miou"])
    assert report.drivable_iou == pytest.approx(answer["road_iou"])
    assert report.drivable_f1 == pytest.approx(answer["f1"])
    assert sum(v == 0 for v in report.per_class_iou.values()) == answer["present"] - 1
    assert report.latency_p50_ms == pytest.approx(30.0)  # recorded 30 ms after the frame


def _raw_messages(bag: Path, topic: str) -> list[tuple[int, bytes]]:
    from rosbags.rosbag2 import Reader

    with Reader(bag) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        return [(t, raw) for _, t, raw in reader.messages(connections=conns)]


def test_cli_recorded(small_bag: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="stdc-ros eval")
    evaluate_module.add_arguments(parser)
    help_text = parser.format_help()
    for option in ("--mode", "--model", "--backend", "--tolerance-ms", "--rate", "--domain-id", "--param"):
        assert option in help_text
    args = parser.parse_args(
        [
            str(small_bag),
            "--out",
            str(tmp_path / "cli"),
            "--mode",
            "recorded",
            "--predictions-topic",
            GT,
            "--no-progress",
            "--no-plots",
        ]
    )
    assert evaluate_module.run(args) == 0
    assert "| mIoU | 100.00 % |" in capsys.readouterr().out
    bad = parser.parse_args([str(tmp_path / "missing"), "--out", str(tmp_path / "x"), "--no-progress"])
    assert evaluate_module.run(bad) == 2


def test_cli_flags_make_the_options(tmp_path: Path) -> None:
    """The parser returns EvalCommand + EvalOptions: defaults as the API's, each flag to its field."""
    from stdc_ros.cli_options import options_from

    parser = argparse.ArgumentParser(prog="stdc-ros eval")
    evaluate_module.add_arguments(parser)
    args = parser.parse_args([str(tmp_path)])
    assert options_from(args, evaluate_module.EvalOptions) == evaluate_module.EvalOptions()
    assert options_from(args, evaluate_module.EvalCommand) == evaluate_module.EvalCommand(bag=tmp_path)
    argv = ["-p", "a:=1", "--param", "b:=x:=y", "--dds-profile", "none", "--labels", "l.yaml", "--rate", "2"]
    argv += ["--tolerance-ms", "7", "--max-frames", "3", "--domain-id", "9", "--ready-timeout", "5", "--no-plots"]
    argv += ["--frame-timeout", "6", "--no-output-bag", "--no-progress", "--image-topic", "/i", "--gt-topic", "/g"]
    options = options_from(parser.parse_args([str(tmp_path), *argv]), evaluate_module.EvalOptions)
    assert options == evaluate_module.EvalOptions(
        image_topic="/i",
        gt_topic="/g",
        label_set="l.yaml",
        tolerance_ms=7.0,
        rate=2.0,
        max_frames=3,
        domain_id=9,
        node_params={"a": "1", "b": "x:=y"},
        ready_timeout_s=5.0,
        frame_timeout_s=6.0,
        dds_profile=None,
        output_bag=False,
        plots=False,
        progress=False,
    )
    with pytest.raises(SystemExit):
        parser.parse_args([str(tmp_path), "-p", "novalue"])


@pytest.mark.ros
@pytest.mark.slow
def test_lossless_fake_node_known_answer(
    small_bag: Path,
    tmp_path: Path,
    sample_dirs: tuple[Path, Path],
    fake_node_command: tuple[str, ...],
    ros_domain_id: int,
) -> None:
    """The fake node answers road everywhere: the live path must give the hand-computed IoU."""
    out = tmp_path / "lossless"
    report = evaluate_bag(
        small_bag,
        out,
        "lossless",
        node_command=fake_node_command,
        domain_id=ros_domain_id,
        progress=False,
        settle_s=0.5,
    )
    answer = constant_road_answer(sample_truth(sample_dirs[1], 4))
    assert (report.frames, report.processed, report.scored, report.dropped, report.failed) == (4, 4, 4, 0, 0)
    assert report.miou == pytest.approx(answer["miou"])
    assert report.drivable_f1 == pytest.approx(answer["f1"])
    assert 0 < report.latency_p50_ms < 5000 and report.throughput_fps > 0
    assert report.node_exit_code in (0, None)
    check_report_files(report, out)
    # the output bag holds the input and every output topic, outputs at their frame's bag time + latency
    summary = bag_summary(out / "output_bag")
    names = {t.name for t in summary.topics}
    assert {"/camera/image_raw", "/camera/camera_info", GT, "/stdc_eval/out/labels", "/stdc_eval/out/overlay"} <= names
    labels = topic_messages(out / "output_bag", "/stdc_eval/out/labels")
    assert len(labels) == 4
    for log_ns, msg in labels:
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec  # type: ignore[attr-defined]
        assert stamp in [START_NS + i * 100_000_000 for i in range(4)] and 0 <= log_ns - stamp < 5 * 10**9
    assert report.outputs["/stdc_eval/out/labels"] == 4


@pytest.mark.ros
@pytest.mark.slow
def test_lossless_frame_without_answer_is_reported(
    small_bag: Path,
    tmp_path: Path,
    sample_dirs: tuple[Path, Path],
    fake_node_command: tuple[str, ...],
    ros_domain_id: int,
) -> None:
    images, labels = sample_dirs
    from stdc_ros.rosbag.make_bag import make_bag

    bag = make_bag(images, tmp_path / "one_hz", labels, rate_hz=1.0, limit=3, start_time_ns=START_NS, progress=False)
    report = evaluate_bag(
        bag,
        tmp_path / "out",
        "lossless",
        node_command=fake_node_command,
        domain_id=ros_domain_id,
        node_params={"skip_sec": "1001"},
        frame_timeout_s=2.0,
        resend_after_s=1.0,
        settle_s=0.3,
        progress=False,
        plots=False,
        output_bag=False,
    )
    assert (report.frames, report.scored, report.failed) == (3, 2, 1)
    assert report.failures == [{"index": 1, "stamp_ns": START_NS + 10**9, "reason": "no result within 2 s"}]
    assert [r.status for r in report.frame_records] == ["scored", "failed", "scored"]


@pytest.mark.ros
@pytest.mark.slow
def test_realtime_slow_node_drops_frames(
    small_bag: Path, tmp_path: Path, fake_node_command: tuple[str, ...], ros_domain_id: int
) -> None:
    """Frames 100 ms apart, 350 ms of work each, newest-frame input: some frames never get a result."""
    report = evaluate_bag(
        small_bag,
        tmp_path / "rt",
        "realtime",
        node_command=fake_node_command,
        domain_id=ros_domain_id,
        node_params={"delay_s": "0.35"},
        progress=False,
        settle_s=1.0,
    )
    assert report.frames == 4 and report.failed == 0
    assert report.dropped >= 1 and report.processed + report.dropped == 4
    assert report.latency_p50_ms >= 300
    statuses = [r.status for r in report.frame_records]
    # Best effort: which frame is lost depends on timing (even the first may be), but both kinds occur.
    assert "scored" in statuses and "dropped" in statuses


@pytest.mark.ros
@pytest.mark.slow
def test_realtime_reports_transport_loss_apart_from_node_drops(
    small_bag: Path, tmp_path: Path, fake_node_command: tuple[str, ...], ros_domain_id: int
) -> None:
    """The fake node counts like the real one: the 4th frame 'never arrives' (not counted), the 3rd is counted and
    dropped; the report splits the two from the node's /diagnostics counters."""
    report = evaluate_bag(
        small_bag,
        tmp_path / "rt",
        "realtime",
        node_command=fake_node_command,
        domain_id=ros_domain_id,
        node_params={"lose_every": "4", "drop_every": "3"},
        progress=False,
        settle_s=1.0,
    )
    assert (report.frames, report.processed, report.dropped) == (4, 2, 2), report.notes
    assert (report.lost_in_transport, report.dropped_by_node) == (1, 1)
    assert "lost in transport 1" in report.markdown()
    assert any("never reached the node" in note for note in report.notes)
    assert report.to_dict()["lost_in_transport"] == 1


@pytest.mark.ros
@pytest.mark.slow
def test_node_never_ready_says_why(
    small_bag: Path, tmp_path: Path, fake_node_command: tuple[str, ...], ros_domain_id: int
) -> None:
    """A process that never joins the graph, and a node that joins it but never offers its topics: each gets an
    error naming what was missing, within the ready timeout."""
    no_node = (fake_node_command[0], "-c", "import time; time.sleep(60)")
    with pytest.raises(NodeProcessError, match=r"no node named stdc_eval was ever discovered"):
        evaluate_bag(small_bag, tmp_path / "a", node_command=no_node, domain_id=ros_domain_id, ready_timeout_s=2.0)
    with pytest.raises(NodeProcessError, match=r"node stdc_eval discovered; subscribers of /stdc_eval/in/image: 0"):
        evaluate_bag(
            small_bag,
            tmp_path / "b",
            node_command=fake_node_command,
            domain_id=ros_domain_id,
            node_params={"silent": "true"},
            ready_timeout_s=6.0,
            progress=False,
        )
