"""Small rclpy helpers shared by replay and eval (rclpy is imported only by the functions that need it)."""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..dds_profile import hd_profile_path, profile_environment, user_fastdds_setting
from ..errors import BagError

RELIABILITIES = ("reliable", "best_effort")
DISCOVERY_RANGES = ("SUBNET", "LOCALHOST", "OFF", "SYSTEM_DEFAULT")


def message_class(msgtype: str) -> type | None:
    """The rclpy message class of ``pkg/msg/Type``, or None when that package is not installed."""
    parts = msgtype.split("/")
    if len(parts) != 3:
        return None
    try:
        return getattr(importlib.import_module(f"{parts[0]}.{parts[1]}"), parts[2])
    except (ImportError, AttributeError):
        return None


def require_message_class(msgtype: str, topic: str) -> type:
    cls = message_class(msgtype)
    if cls is None:
        raise BagError(f"topic {topic}: message type {msgtype} is not known here (its Python package is missing)")
    return cls


def qos(reliability: str = "reliable", depth: int = 10, transient_local: bool = False) -> Any:
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    if reliability not in RELIABILITIES:
        raise ValueError(f"QoS reliability must be one of {RELIABILITIES}, got {reliability!r}")
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if transient_local else DurabilityPolicy.VOLATILE,
    )


@contextmanager
def scoped_env(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block (the DDS participant reads them at init)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def dds_environment(
    transport: str | None, discovery_range: str | None = None, profile: Path | str | None = None
) -> dict[str, str]:
    """DDS settings for processes we start and our own participant, each only where the user left it unset.

    Unless Fast DDS is configured already (FASTDDS_BUILTIN_TRANSPORTS, a profile variable or a default profile
    file in the working folder): the XML ``profile`` ("packaged": config/dds/fastdds_hd.xml) through both profile
    variables, else ``FASTDDS_BUILTIN_TRANSPORTS=transport``. ``ROS_AUTOMATIC_DISCOVERY_RANGE=discovery_range``
    unless discovery is configured (that variable, static peers, the older ROS_LOCALHOST_ONLY or a discovery
    server). None leaves that part alone."""
    if discovery_range is not None and discovery_range not in DISCOVERY_RANGES:
        raise ValueError(f"discovery range must be one of {DISCOVERY_RANGES}, got {discovery_range!r}")
    env: dict[str, str] = {}
    if str(profile) == "packaged":
        profile = hd_profile_path()
    if profile is not None and not Path(profile).is_file():
        raise FileNotFoundError(f"DDS profile not found: {profile}")
    if not user_fastdds_setting(os.environ):
        if profile is not None:
            env.update(profile_environment(profile))
        elif transport is not None:
            env["FASTDDS_BUILTIN_TRANSPORTS"] = transport
    discovery = ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_STATIC_PEERS", "ROS_LOCALHOST_ONLY", "ROS_DISCOVERY_SERVER")
    if discovery_range is not None and not any(os.environ.get(k) for k in discovery):
        env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = discovery_range
    return env


@contextmanager
def ros_node(name: str, domain_id: int | None = None, env: dict[str, str] | None = None) -> Iterator[Any]:
    """An rclpy node in its own context (so several can live in one process), shut down on exit.

    ``env`` is set only while the context and node are made, when the middleware reads it."""
    import rclpy

    context = rclpy.Context()
    node = None
    try:
        with scoped_env(env or {}):  # the participant is made with the context or the first node
            rclpy.init(args=[], context=context, domain_id=domain_id)
            node = rclpy.create_node(name, context=context, start_parameter_services=False)
        yield node
    finally:
        if node is not None:
            node.destroy_node()
        if context.ok():
            rclpy.shutdown(context=context)


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


def stamp_ns(header: Any) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)
