"""Node test fixtures: the shared ROS harness (test/ros_harness.py) with one executor thread (``ros``) or two
(``harness``, for the bad-input, fault and parameter-abuse tests), and frame helpers (``frames``, ``kit``).

Small frames (60x80) and the tiny ONNX model (network 96x128) keep every test to a few seconds on two cores.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ..ros_required import ros_tests_enabled

# rclpy missing fails the run; only STDC_ROS_SKIP_ROS_TESTS=1 leaves this folder out (see ros_required.py)
if ros_tests_enabled("test/node"):
    from sensor_msgs.msg import Image

    from ..ros_harness import (
        RosHarness,
        block_image,
        image_message,
        scene,
        set_stamp,
        stamp_of,
        status_values,
        wait_for,
    )
else:
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture
def ros(ros_domain_id: int) -> Iterator[RosHarness]:
    harness = RosHarness(ros_domain_id, threads=1)
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture
def harness(ros_domain_id: int) -> Iterator[RosHarness]:
    h = RosHarness(ros_domain_id, threads=2)
    try:
        yield h
    finally:
        h.close()


@pytest.fixture
def frames() -> Any:
    """Helpers to make frames: ``frames.image()``, ``frames.message(rgb, encoding, ...)``, ``frames.stamp``."""

    class Frames:
        image = staticmethod(block_image)
        message = staticmethod(image_message)
        stamp = staticmethod(stamp_of)

    return Frames


@pytest.fixture(scope="session")
def corrupt_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bad") / "corrupt.onnx"
    path.write_bytes(b"this is not an onnx model" * 10)
    return path


def raw_message(rgb: np.ndarray, stamp_ns: int, encoding: str = "rgb8", frame_id: str = "cam") -> Image:
    return image_message(rgb, encoding, stamp_ns, frame_id)


@pytest.fixture(scope="session")
def kit() -> Any:
    """Helpers for the test modules (conftest is not importable under --import-mode=importlib)."""

    class Kit:
        scene = staticmethod(scene)
        raw_message = staticmethod(raw_message)
        set_stamp = staticmethod(set_stamp)
        stamp_of = staticmethod(stamp_of)
        wait_for = staticmethod(wait_for)
        status_values = staticmethod(status_values)

    return Kit
