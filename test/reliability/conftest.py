"""Reliability fixtures: the shared ROS harness (test/ros_harness.py) with two executor threads, and helpers.

Small frames (60x80) and the tiny ONNX model (network 96x128) keep every test to a few seconds on two cores.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from ..ros_required import ros_tests_enabled

# rclpy missing fails the run; only STDC_ROS_SKIP_ROS_TESTS=1 leaves this folder out (see ros_required.py)
if ros_tests_enabled("test/reliability"):
    from sensor_msgs.msg import Image

    from ..ros_harness import RosHarness, image_message, scene, set_stamp, stamp_of, status_values, wait_for
else:
    collect_ignore_glob = ["test_*.py"]


def raw_message(rgb: np.ndarray, stamp_ns: int, encoding: str = "rgb8", frame_id: str = "cam") -> Image:
    return image_message(rgb, encoding, stamp_ns, frame_id)


@pytest.fixture
def harness(ros_domain_id: int) -> Iterator[RosHarness]:
    h = RosHarness(ros_domain_id, threads=2)
    try:
        yield h
    finally:
        h.close()


class Kit:
    """Helpers for the test modules (conftest is not importable under --import-mode=importlib)."""

    scene = staticmethod(scene)
    raw_message = staticmethod(raw_message)
    set_stamp = staticmethod(set_stamp)
    stamp_of = staticmethod(stamp_of)
    wait_for = staticmethod(wait_for)
    status_values = staticmethod(status_values)


@pytest.fixture(scope="session")
def kit() -> type[Kit]:
    return Kit
