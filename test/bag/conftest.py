"""Fixtures of the bag tool tests: small bags made from the bundled CamVid sample, a fake node command."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from stdc_ros.bag.make_bag import make_bag

from .bagtools import START_NS

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent.parent / "samples" / "camvid_demo"


@pytest.fixture(scope="session")
def sample_dirs() -> tuple[Path, Path]:
    """(images, labels) of the bundled CamVid sample."""
    return SAMPLE / "images", SAMPLE / "labels"


@pytest.fixture(scope="session")
def small_bag(tmp_path_factory: pytest.TempPathFactory, sample_dirs: tuple[Path, Path]) -> Path:
    """Four CamVid frames at 10 Hz (MCAP): rgb8 images, camera_info and ground truth."""
    images, labels = sample_dirs
    out = tmp_path_factory.mktemp("bags") / "small"
    return make_bag(images, out, labels, rate_hz=10.0, limit=4, start_time_ns=START_NS, progress=False)


@pytest.fixture(scope="session")
def fake_node_command() -> tuple[str, ...]:
    """Starts test/bag/fake_node.py the way the evaluator starts `stdc-ros run`."""
    return (sys.executable, str(HERE / "fake_node.py"))
