"""The client's frame bookkeeping, without ROS: complete frames, lost ones, latency, expiry."""

from __future__ import annotations

import threading
import time

import pytest

from stdc_ros.harness.tracker import FrameTracker, StreamStats


def test_a_frame_is_complete_once_every_output_arrived_and_latency_is_to_its_labels() -> None:
    tracker = FrameTracker(("labels", "color"))
    tracker.sent(100, t=10.0)
    tracker.arrived("labels", 100, t=10.025)
    assert tracker.received == 0 and 100 in tracker.in_flight  # color still missing
    tracker.arrived("color", 100, t=10.030)
    assert tracker.received == 1 and not tracker.in_flight
    assert tracker.latencies_ms == [pytest.approx(25.0)]
    assert tracker.per_topic == {"labels": 1, "color": 1}


def test_an_older_frame_still_incomplete_when_a_newer_one_completes_was_dropped() -> None:
    tracker = FrameTracker(("labels",))
    for stamp in (1, 2, 3):
        tracker.sent(stamp, t=0.0)
    tracker.arrived("labels", 3, t=0.1)  # the node kept only the newest frame
    assert (tracker.received, tracker.lost, list(tracker.in_flight)) == (1, 2, [])
    tracker.arrived("labels", 1, t=0.2)  # a straggler of a forgotten frame counts per topic only
    assert tracker.received == 1 and tracker.per_topic["labels"] == 2


def test_untracked_topics_and_unknown_stamps_change_nothing() -> None:
    tracker = FrameTracker(("labels",))
    tracker.sent(5, t=0.0)
    tracker.arrived("overlay", 5, t=0.1)
    tracker.arrived("labels", 6, t=0.1)
    assert tracker.received == 0 and tracker.per_topic == {"labels": 1} and 5 in tracker.in_flight


def test_expire_forgets_old_frames_or_at_least_the_oldest() -> None:
    tracker = FrameTracker(("labels",))
    now = time.monotonic()
    tracker.sent(1, t=now - 5.0)
    tracker.sent(2, t=now - 4.0)
    tracker.sent(3, t=now)
    with tracker.cond:
        assert tracker.expire(2.0) == 2
        assert list(tracker.in_flight) == [3]
        assert tracker.expire(2.0) == 1  # nothing that old: the oldest goes, so a stuck window moves on
    tracker.reset()
    assert (tracker.received, tracker.lost, tracker.latencies_ms, tracker.per_topic) == (0, 0, [], {"labels": 0})


def test_a_waiting_stream_wakes_when_a_frame_completes() -> None:
    tracker = FrameTracker(("labels",))
    tracker.sent(7, t=time.monotonic())
    threading.Timer(0.05, tracker.arrived, ("labels", 7, time.monotonic())).start()
    with tracker.cond:
        assert tracker.cond.wait_for(lambda: not tracker.in_flight, timeout=5.0)


def test_stream_stats_rate_and_percentiles() -> None:
    stats = StreamStats(sent=10, received=8, seconds=2.0, latencies_ms=[10.0, 20.0, 30.0])
    assert stats.rate_hz == 4.0 and stats.latency_ms(50) == 20.0
    assert StreamStats().rate_hz == 0.0 and StreamStats().latency_ms(50) is None
