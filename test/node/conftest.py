"""Node test fixtures: the shared ROS harness (test/ros_harness.py) with one executor thread, and frames."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..ros_required import ros_tests_enabled

# rclpy missing fails the run; only STDC_ROS_SKIP_ROS_TESTS=1 leaves this folder out (see ros_required.py)
if ros_tests_enabled("test/node"):
    from ..ros_harness import RosHarness, block_image, image_message, stamp_of
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
