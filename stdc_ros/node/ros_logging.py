"""Python ``logging`` records of the package (``stdc_ros.*``, and ``tensorrt`` of the TensorRT backend) forwarded
to a node's ROS logger, so they reach the console and /rosout under ``ros2 launch`` like the node's own lines.

A node attaches its logger while it lives (``attach``) and detaches it when destroyed. One handler serves the
process: a record goes to the node whose code emitted it (``logging_to`` marks a thread's work, e.g. a model load
or a frame, as that node's), else to the most recently attached node, so nothing is logged twice when several
nodes share a process. While any node is attached the package loggers do not propagate to the root logger (which
``stdc-ros run`` gives a stderr handler), so a record is printed once, by ROS.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

LOGGER_NAMES = ("stdc_ros", "tensorrt")

_current: ContextVar[Any | None] = ContextVar("stdc_ros_ros_logger", default=None)


def _ros_severity(levelno: int) -> int:
    """Python level -> rcutils severity (DEBUG 10, INFO 20, WARN 30, ERROR 40, FATAL 50: the same numbers)."""
    for severity in (50, 40, 30, 20):
        if levelno >= severity:
            return severity
    return 10


class RosLogHandler(logging.Handler):
    """Sends each record to one ROS logger (an rclpy RcutilsLogger) at the matching severity."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        self.targets: list[Any] = []  # attached node loggers, newest last

    def emit(self, record: logging.LogRecord) -> None:
        target = _current.get() or (self.targets[-1] if self.targets else None)
        if target is None:
            return
        severity = _ros_severity(record.levelno)
        try:
            if not target.is_enabled_for(severity):
                return
            message = self.format(record)
            # One call site per severity: rclpy keys its per-call-site state by the calling line and refuses a
            # severity change at the same line.
            if severity >= 50:
                target.fatal(message)
            elif severity >= 40:
                target.error(message)
            elif severity >= 30:
                target.warning(message)
            elif severity >= 20:
                target.info(message)
            else:
                target.debug(message)
        except Exception:
            self.handleError(record)


@dataclass
class _Saved:
    level: int
    propagate: bool


class _Bridge:
    """The process-wide handler and what it changed on the package loggers (restored when the last node leaves)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.handler = RosLogHandler()
        self.saved: dict[str, _Saved] = {}

    def attach(self, ros_logger: Any) -> None:
        with self.lock:
            if not self.handler.targets:
                for name in LOGGER_NAMES:
                    logger = logging.getLogger(name)
                    self.saved[name] = _Saved(logger.level, logger.propagate)
                    logger.addHandler(self.handler)
                    logger.propagate = False
            self.handler.targets.append(ros_logger)
            self._set_levels()

    def detach(self, ros_logger: Any) -> None:
        with self.lock:
            if ros_logger not in self.handler.targets:
                return
            self.handler.targets.remove(ros_logger)
            if self.handler.targets:
                self._set_levels()
                return
            for name in LOGGER_NAMES:
                logger = logging.getLogger(name)
                logger.removeHandler(self.handler)
                saved = self.saved.pop(name, None)
                if saved is not None:
                    logger.setLevel(saved.level)
                    logger.propagate = saved.propagate

    def _set_levels(self) -> None:
        # The package loggers let through what the most verbose attached node logs (its level when attached).
        levels = [int(t.get_effective_level()) or logging.INFO for t in self.handler.targets]
        for name in LOGGER_NAMES:
            logging.getLogger(name).setLevel(min(levels))


_bridge = _Bridge()


def attach(ros_logger: Any) -> None:
    """Forward the package's Python log records to ``ros_logger`` (a node's ``get_logger()``) until ``detach``."""
    _bridge.attach(ros_logger)


def detach(ros_logger: Any) -> None:
    _bridge.detach(ros_logger)


def attached() -> list[Any]:
    """The ROS loggers records go to now, newest last (tests, diagnostics)."""
    with _bridge.lock:
        return list(_bridge.handler.targets)


@contextmanager
def logging_to(ros_logger: Any) -> Iterator[None]:
    """Records emitted in this block (this thread or task) go to ``ros_logger``."""
    token = _current.set(ros_logger)
    try:
        yield
    finally:
        _current.reset(token)
