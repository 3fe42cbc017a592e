"""Where the drivable grid and scan take the camera pose from: TF at the image stamp, or the parameters.

On a vehicle the camera's pose is in TF (the URDF through robot_state_publisher: ``base_footprint`` to the
camera's optical frame). With ``tf.enabled`` and ``tf2_ros`` importable, each frame that needs the geometry looks
up ``drivable.ground_frame`` <- camera frame (``tf.camera_frame``, or the image's own frame_id) at the image stamp,
waiting up to ``tf.timeout``. The ``drivable.camera_*`` parameters are the fallback: when TF is off or missing,
and whenever a lookup fails (then TF is tried again after ``RETRY_S``, so a missing transform costs no
per-frame wait). ``PoseChoice`` says which source a frame used and why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rclpy.duration import Duration
from rclpy.time import Time

from ..drivable.config import DrivableConfig
from ..drivable.pose import CameraPose, pose_from_transform
from .parameters import NodeConfig

RETRY_S = 1.0

try:  # no wheels off a ROS install: the parameters are then the only source
    import tf2_ros
except ImportError:
    tf2_ros = None


def tf2_available() -> bool:
    return tf2_ros is not None


@dataclass(frozen=True)
class TfBuffer:
    """A tf2_ros.Buffer fed by a TransformListener on ``node`` (the listener must live as long as the buffer)."""

    buffer: Any
    listener: Any

    @classmethod
    def on_node(cls, node: Any) -> TfBuffer:
        if tf2_ros is None:
            raise RuntimeError("tf2_ros is not importable")
        buffer = tf2_ros.Buffer()
        return cls(buffer, tf2_ros.TransformListener(buffer, node))


@dataclass(frozen=True)
class PoseChoice:
    """The drivable config for one frame (camera_* from TF or the parameters) and how it was chosen."""

    config: DrivableConfig
    source: str  # "tf" or "parameters"
    detail: str  # the TF frames, or why the parameters are used
    error: str = ""  # why the TF lookup failed ("" when TF was used, is off or unavailable)

    def describe(self) -> str:
        return f"{self.source} ({self.detail})" if self.detail else self.source


def _one_line(exc: BaseException) -> str:
    text = " | ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class CameraPoseSource:
    """Chooses the pose per frame. Called from the node's worker thread only.

    ``buffer_factory`` makes the object to look transforms up in (same interface as tf2_ros.Buffer:
    ``lookup_transform(target, source, time, timeout) -> TransformStamped``); it is called on first use, so no
    /tf subscription exists while nothing needs the geometry. None: TF is unavailable (tf2_ros not importable).
    """

    def __init__(self, buffer_factory: Callable[[], Any] | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._factory = buffer_factory
        self._buffer: Any | None = None
        self._clock = clock
        self._failed: tuple[tuple[str, str], float, str] | None = None  # (frames, when, reason)
        self._cached: tuple[DrivableConfig, CameraPose, DrivableConfig] | None = None

    def choose(self, stamp: Any, frame_id: str, config: NodeConfig) -> PoseChoice:
        """The pose for an image with header ``stamp`` / ``frame_id`` under ``config``."""
        drivable = config.drivable
        if not config.tf_enabled:
            return PoseChoice(drivable, "parameters", "tf.enabled is false")
        if self._factory is None:
            return PoseChoice(drivable, "parameters", "tf2_ros is not installed")
        camera = config.tf_camera_frame or frame_id
        if not camera:
            reason = "the image has no frame_id: set tf.camera_frame"
            return PoseChoice(drivable, "parameters", "TF lookup failed", reason)
        frames = (drivable.ground_frame, camera)
        now = self._clock()
        if self._failed is not None and self._failed[0] == frames and now - self._failed[1] < RETRY_S:
            return PoseChoice(drivable, "parameters", "TF lookup failed", self._failed[2])
        try:
            if self._buffer is None:
                self._buffer = self._factory()
            transform = self._buffer.lookup_transform(
                frames[0], frames[1], Time.from_msg(stamp), Duration(seconds=config.tf_timeout)
            )
            t, q = transform.transform.translation, transform.transform.rotation
            pose = pose_from_transform((t.x, t.y, t.z), (q.x, q.y, q.z, q.w)).rounded()
            derived = self._apply(drivable, pose)
        except Exception as exc:  # tf2's Lookup/Connectivity/Extrapolation errors, or a pose out of range
            reason = f"{frames[0]} <- {frames[1]}: {_one_line(exc)}"
            self._failed = (frames, now, reason)
            return PoseChoice(drivable, "parameters", "TF lookup failed", reason)
        self._failed = None
        return PoseChoice(derived, "tf", f"{frames[0]} <- {frames[1]}")

    def _apply(self, drivable: DrivableConfig, pose: CameraPose) -> DrivableConfig:
        """``drivable`` with the TF pose; the same object while neither changes (the lookups stay cached)."""
        cached = self._cached
        if cached is not None and cached[0] == drivable and cached[1] == pose:
            return cached[2]
        try:
            derived = pose.applied_to(drivable)
        except ValueError as exc:
            raise ValueError(f"camera pose from TF ({pose.describe()}) is unusable: {exc}") from None
        self._cached = (drivable, pose, derived)
        return derived
