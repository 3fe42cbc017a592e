"""Corrupt, empty and unusable bags give a clear BagError; a damaged frame is reported and the run goes on."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from stdc_ros.errors import BagError
from stdc_ros.evaluation.evaluate import evaluate_bag
from stdc_ros.rosbag.io import bag_summary
from stdc_ros.rosbag.replay import ReplayOptions, replay

from ..bagtools import START_NS, UNKNOWN_TYPE, copy_bag, unknown_message

GT = "/camera/labels_gt"


def evaluate_recorded(bag: Path, out: Path, **kw: object) -> object:
    return evaluate_bag(
        bag, out, "recorded", predictions_topic=kw.pop("predictions_topic", GT), progress=False, plots=False, **kw
    )


def damaged_copy(small_bag: Path, tmp_path: Path, how: str) -> Path:
    bag = tmp_path / how
    shutil.copytree(small_bag, bag)
    mcap = next(bag.glob("*.mcap"))
    if how == "truncated":
        with mcap.open("r+b") as f:
            f.truncate(mcap.stat().st_size // 2)
    elif how == "garbage":
        mcap.write_bytes(os.urandom(4096))
    elif how == "bad_metadata":
        (bag / "metadata.yaml").write_text("rosbag2_bagfile_information: [this is: not, valid")
    elif how == "no_metadata":
        (bag / "metadata.yaml").unlink()
    return bag


@pytest.mark.parametrize("how", ["truncated", "garbage", "bad_metadata", "no_metadata"])
def test_corrupt_bags(small_bag: Path, tmp_path: Path, how: str) -> None:
    bag = damaged_copy(small_bag, tmp_path, how)
    with pytest.raises(BagError, match=str(bag)):
        bag_summary(bag)
    with pytest.raises(BagError):
        evaluate_recorded(bag, tmp_path / "out")
    with pytest.raises(BagError):
        replay(bag, ReplayOptions(progress=False))


def test_missing_bag(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="not found"):
        bag_summary(tmp_path / "nope")
    with pytest.raises(BagError, match="not found"):
        evaluate_bag(tmp_path / "nope", tmp_path / "out", "lossless", progress=False)


def test_empty_bag(small_bag: Path, tmp_path: Path) -> None:
    bag = copy_bag(small_bag, tmp_path / "empty", edit=lambda *_: None)
    summary = bag_summary(bag)
    assert summary.message_count == 0 and summary.topic("/camera/image_raw") is not None
    with pytest.raises(BagError, match="no messages"):
        evaluate_recorded(bag, tmp_path / "out")
    with pytest.raises(BagError, match="no messages"):
        replay(bag, ReplayOptions(progress=False))


def test_no_image_topic(small_bag: Path, tmp_path: Path) -> None:
    bag = copy_bag(small_bag, tmp_path / "info_only", edit=lambda t, m, s, raw: raw if "camera_info" in t else None)
    with pytest.raises(BagError, match="no image topic"):
        evaluate_bag(bag, tmp_path / "out", "lossless", progress=False)


def test_unknown_type(small_bag: Path, tmp_path: Path) -> None:
    extra = [("/thing", UNKNOWN_TYPE, START_NS + i, unknown_message(START_NS + i)) for i in range(3)]
    bag = copy_bag(small_bag, tmp_path / "unknown", extra=extra)
    assert bag_summary(bag).topic("/thing").msgtype == UNKNOWN_TYPE
    with pytest.raises(BagError, match="not an image type"):
        evaluate_recorded(bag, tmp_path / "out", image_topic="/thing")
    with pytest.raises(BagError, match=f"cannot replay /thing: message type {UNKNOWN_TYPE}"):
        replay(bag, ReplayOptions(topics=("/thing",), progress=False))
    only_unknown = copy_bag(small_bag, tmp_path / "only_unknown", edit=lambda *_: None, extra=extra)
    with pytest.raises(BagError, match="no topic can be played"):
        replay(only_unknown, ReplayOptions(progress=False))
    with pytest.raises(BagError, match="no image topic"):
        evaluate_recorded(only_unknown, tmp_path / "out")


def test_damaged_frame_is_reported_and_the_run_goes_on(small_bag: Path, tmp_path: Path) -> None:
    def damage(topic: str, msgtype: str, stamp: int, raw: bytes) -> bytes:
        return raw[:40] if topic == "/camera/image_raw" and stamp == START_NS + 100_000_000 else raw

    bag = copy_bag(small_bag, tmp_path / "damaged", edit=damage)
    report = evaluate_recorded(bag, tmp_path / "out")
    assert (report.frames, report.failed, report.scored) == (4, 1, 3)
    assert report.failures[0]["index"] == 1 and "cannot read the image message" in report.failures[0]["reason"]
    assert report.miou == pytest.approx(1.0)
    assert "Failed frames" in report.report_md.read_text()
