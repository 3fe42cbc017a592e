"""A stand-in for tf2_ros.Buffer (no tf2_ros wheels exist off a ROS install): same ``lookup_transform`` call,
TransformStamped answers, and exceptions named like tf2's."""

from __future__ import annotations

import threading
from typing import Any

from geometry_msgs.msg import TransformStamped
from rclpy.duration import Duration
from rclpy.time import Time


class LookupException(Exception):
    """As tf2_ros.LookupException: a frame is not in the tree."""


class ExtrapolationException(Exception):
    """As tf2_ros.ExtrapolationException: the stamp lies outside the buffered interval."""


def transform(target: str, source: str, translation: tuple, rotation: tuple) -> TransformStamped:
    msg = TransformStamped()
    msg.header.frame_id, msg.child_frame_id = target, source
    t, q = msg.transform.translation, msg.transform.rotation
    t.x, t.y, t.z = (float(v) for v in translation)
    q.x, q.y, q.z, q.w = (float(v) for v in rotation)
    return msg


class FakeTfBuffer:
    """Static transforms by (target, source); records every lookup; optionally fails with a given exception."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.transforms: dict[tuple[str, str], TransformStamped] = {}
        self.calls: list[tuple[str, str, Time, Duration]] = []
        self.fail_with: Exception | None = None

    def set(self, target: str, source: str, translation: tuple, rotation: tuple) -> None:
        with self._lock:
            self.transforms[(target, source)] = transform(target, source, translation, rotation)

    def lookup_transform(self, target_frame: str, source_frame: str, time: Any, timeout: Any) -> TransformStamped:
        # tf2_ros.Buffer takes rclpy Time / Duration (a builtin_interfaces stamp raises there too)
        if not isinstance(time, Time) or not isinstance(timeout, Duration):
            raise TypeError(f"lookup_transform needs rclpy Time and Duration, got {type(time)}, {type(timeout)}")
        with self._lock:
            self.calls.append((target_frame, source_frame, time, timeout))
            if self.fail_with is not None:
                raise self.fail_with
            found = self.transforms.get((target_frame, source_frame))
        if found is None:
            raise LookupException(f'"{source_frame}" passed to lookupTransform argument source_frame does not exist. ')
        return found
