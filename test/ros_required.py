"""The ROS test folders' guard: rclpy (and the message packages) missing fails the run, never skips it silently.

The package's own environments (.venv, .venv-jazzy, a ROS 2 install under colcon test) always have rclpy, so a
broken or missing rclpy there is a failure. On a machine without ROS, set ``STDC_ROS_SKIP_ROS_TESTS=1`` to leave
the ROS tests out instead: each folder or module left out is named in the warnings summary.
"""

from __future__ import annotations

import importlib
import os
import warnings

OPT_OUT = "STDC_ROS_SKIP_ROS_TESTS"
ROS_MODULES = ("rclpy", "sensor_msgs.msg", "std_msgs.msg")


class RosTestsLeftOut(UserWarning):
    """ROS tests not collected because ROS is not importable and the opt-out is set."""


def ros_tests_enabled(where: str, *extra: str) -> bool:
    """True when rclpy, the common messages and ``extra`` import. When one does not: False (and a warning naming
    ``where``) if ``STDC_ROS_SKIP_ROS_TESTS`` is set, else ImportError saying what is missing and how to opt out."""
    for name in (*ROS_MODULES, *extra):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            if os.environ.get(OPT_OUT, "") not in ("", "0"):
                warnings.warn(
                    f"{where} left out: {name} is not importable ({exc}) and {OPT_OUT} is set",
                    RosTestsLeftOut,
                    stacklevel=2,
                )
                return False
            raise ImportError(
                f"{name} is not importable ({exc}): the ROS tests need the ROS 2 wheels of requirements*.txt "
                f"(make install) or a sourced ROS 2 install; set {OPT_OUT}=1 to skip them on a machine without ROS"
            ) from exc
    return True
