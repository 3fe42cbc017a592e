"""The client's message handling without a running graph: which topics it takes, matching, recording, bad bytes."""

from __future__ import annotations

import pytest

from ..ros_required import ros_tests_enabled

# missing ROS messages fail the run; only STDC_ROS_SKIP_ROS_TESTS=1 skips this module (see ros_required.py)
if not ros_tests_enabled(__name__, "diagnostic_msgs.msg"):
    pytest.skip("ROS 2 messages not importable", allow_module_level=True)

from rclpy.serialization import serialize_message

from stdc_ros.harness.client import ALL_OUTPUTS, NodeClient
from stdc_ros.harness.frames import image_message, set_stamp, synthetic_frames


def test_topics_taken_follow_outputs_and_extra_topics() -> None:
    labels_only = NodeClient("/seg", 0)  # nothing starts before the client is entered
    assert labels_only._wanted("/seg/out/labels") and labels_only._wanted("/diagnostics")
    assert not labels_only._wanted("/seg/out/overlay") and not labels_only._wanted("/other/out/labels")
    everything = NodeClient("seg", 0, None, extra_topics=("/tf",))
    assert all(everything._wanted(f"/seg/out/{t}") for t in ALL_OUTPUTS) and everything._wanted("/tf")
    assert not everything._wanted("/seg/in/image")


def test_outputs_are_matched_by_their_header_stamp_and_recorded_raw() -> None:
    client = NodeClient("seg", 0, record=True)
    labels = set_stamp(image_message(synthetic_frames(6, 8, count=1)[0], "mono8"), 1_000_000_123)
    client.tracker.sent(1_000_000_123, t=0.0)
    client._on_message("/seg/out/labels", "sensor_msgs/msg/Image", serialize_message(labels))
    assert client.tracker.received == 1 and client.tracker.per_topic == {"labels": 1}
    item = client.received.get_nowait()
    assert (item.topic, item.msgtype) == ("/seg/out/labels", "sensor_msgs/msg/Image") and item.raw


def test_a_malformed_message_is_logged_and_kept_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    client = NodeClient("seg", 0, record=True)
    client._on_message("/seg/out/labels", "sensor_msgs/msg/Image", b"\x00\x01")
    client._on_message("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray", b"\x00\x01\x00\x00\xff")
    assert client.received.qsize() == 2 and client.tracker.received == 0 and client.diagnostics() == {}
    assert sum("cannot read a message" in r.getMessage() for r in caplog.records) == 2


def test_diagnostics_keep_the_latest_status_of_this_node() -> None:
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    client = NodeClient("seg", 0)
    ours = DiagnosticStatus(
        name="seg: segmentation", message="ok", values=[KeyValue(key="frames_processed", value="7")]
    )
    other = DiagnosticStatus(name="camera: driver", message="fine", values=[KeyValue(key="fps", value="30")])
    client._on_message("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray",
                       serialize_message(DiagnosticArray(status=[ours, other])))  # fmt: skip
    assert client.diagnostics() == {"frames_processed": "7", "_message": "ok"}
