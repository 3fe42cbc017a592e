"""What the client sends and how it reads an output's stamp without decoding it."""

from __future__ import annotations

import numpy as np
import pytest

from ..ros_required import ros_tests_enabled

# missing ROS messages fail the run; only STDC_ROS_SKIP_ROS_TESTS=1 skips this module (see ros_required.py)
if not ros_tests_enabled(__name__, "nav_msgs.msg"):
    pytest.skip("ROS 2 messages not importable", allow_module_level=True)

from stdc_ros.harness.frames import camera_info_message, header_stamp_ns, image_message, set_stamp, synthetic_frames


def test_synthetic_frames_differ_and_are_rgb() -> None:
    frames = synthetic_frames(36, 48, count=3)
    assert [f.shape for f in frames] == [(36, 48, 3)] * 3 and all(f.dtype == np.uint8 for f in frames)
    assert not np.array_equal(frames[0], frames[1])
    np.testing.assert_array_equal(synthetic_frames(36, 48, count=3)[2], frames[2])  # seeded: the same every run


@pytest.mark.parametrize("stamp", [0, 1, 1_764_633_600_123_456_789, 2**31 * 1_000_000_000 - 1])
def test_header_stamp_of_every_output_type_read_in_place(stamp: int) -> None:
    """Each output of the node starts with a std_msgs/Header: its stamp is read from the CDR bytes as rclpy wrote
    them, the same as decoding the whole message."""
    from nav_msgs.msg import OccupancyGrid
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import CompressedImage, LaserScan

    rgb = synthetic_frames(12, 16, count=1)[0]
    messages = [image_message(rgb), image_message(rgb, "mono8"), camera_info_message(12, 16)]
    messages += [CompressedImage(format="png"), OccupancyGrid(), LaserScan()]
    for msg in messages:
        raw = serialize_message(set_stamp(msg, stamp))
        decoded = deserialize_message(raw, type(msg))
        assert header_stamp_ns(raw) == stamp == decoded.header.stamp.sec * 10**9 + decoded.header.stamp.nanosec


def test_header_stamp_big_endian_and_too_short() -> None:
    sec, nanosec = 1_700_000_000, 5
    raw = b"\x00\x00\x00\x00" + sec.to_bytes(4, "big") + nanosec.to_bytes(4, "big") + b"\x00" * 8
    assert header_stamp_ns(raw) == sec * 10**9 + nanosec
    with pytest.raises(ValueError, match="too short"):
        header_stamp_ns(b"\x00\x01\x00\x00")


def test_image_message_keeps_size_encoding_and_bytes() -> None:
    rgb = synthetic_frames(10, 14, count=1)[0]
    msg = image_message(rgb, "bgr8")
    assert (msg.height, msg.width, msg.encoding, msg.step) == (10, 14, "bgr8", 42)
    np.testing.assert_array_equal(np.frombuffer(bytes(msg.data), np.uint8).reshape(10, 14, 3), rgb[..., ::-1])
    info = camera_info_message(720, 1280)
    assert (info.height, info.width) == (720, 1280) and info.k[0] == pytest.approx(0.9 * 1280) and info.k[2] == 639.5
