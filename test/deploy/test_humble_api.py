"""The package uses only rclpy APIs that ROS 2 Humble has (Ubuntu 22.04, JetPack 6), checked statically.

No Humble rclpy can be installed here, so its Python source (../shared/rclpy-humble, override STDC_RCLPY_HUMBLE) is
parsed instead; the test skips only where that source is absent (a user's checkout under ``colcon test``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .humble_api import Checker, HumbleRclpy, check_snippet, load_sources

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def humble() -> HumbleRclpy:
    root = Path(os.environ.get("STDC_RCLPY_HUMBLE", REPO_ROOT.parent / "shared" / "rclpy-humble"))
    if not root.is_dir():
        pytest.skip(f"no Humble rclpy source at {root} (set STDC_RCLPY_HUMBLE)")
    return HumbleRclpy(root / "rclpy")


def messages(humble: HumbleRclpy, code: str) -> list[str]:
    return [finding.message for finding in check_snippet(humble, code)]


def test_the_package_uses_only_rclpy_apis_humble_has(humble: HumbleRclpy) -> None:
    checker = Checker(humble, load_sources(REPO_ROOT / "stdc_ros", REPO_ROOT))
    used = {"stdc_ros.node.segmentation_node", "stdc_ros.rosbag.ros", "stdc_ros.harness.client"}
    assert used <= set(checker.by_module)
    findings = checker.run()
    assert not findings, "Humble's rclpy lacks:\n" + "\n".join(map(str, findings))
    # Not vacuous: the node's own calls, module functions and calls on returned objects were all resolved.
    assert {
        "rclpy.init",
        "rclpy.create_node",
        "rclpy.node.Node.add_on_set_parameters_callback",
        "rclpy.node.Node.create_timer",
        "rclpy.lifecycle.node.LifecycleNodeMixin.create_lifecycle_publisher",
        "rclpy.publisher.Publisher.publish",
    } <= checker.checked


def test_it_flags_the_parameter_callbacks_humble_lacks(humble: HumbleRclpy) -> None:
    found = messages(
        humble,
        """
from rclpy.lifecycle import LifecycleNode
from rclpy.node import Node
import rclpy

class Camera(LifecycleNode):
    def __init__(self) -> None:
        super().__init__("camera")
        self.add_on_set_parameters_callback(self.check)  # Humble has this one
        self.add_post_set_parameters_callback(self.apply)

    def check(self, params): ...
    def apply(self, params): ...

def hook(node: Node) -> None:
    node.add_pre_set_parameters_callback(print)

def made() -> None:
    node = rclpy.create_node("x")
    node.add_post_set_parameters_callback(print)
""",
    )
    assert len(found) == 3, found
    assert "LifecycleNode.add_post_set_parameters_callback: no such method" in found[0]
    assert "rclpy.node.Node.add_pre_set_parameters_callback: no such method" in found[1]
    assert "rclpy.node.Node.add_post_set_parameters_callback: no such method" in found[2]


def test_it_flags_keywords_humbles_signatures_lack(humble: HumbleRclpy) -> None:
    found = messages(
        humble,
        """
import rclpy
from rclpy.lifecycle import LifecycleNode
from rclpy.node import Node

class Camera(LifecycleNode):
    def __init__(self, name: str = "camera", **kwargs) -> None:
        super().__init__(name, **kwargs)
        self.create_timer(1.0, self.tick, autostart=False)
        self.create_subscription(int, "t", self.tick, 10, raw=True, bogus_option=1)

    def tick(self) -> None: ...

def main(node: Node) -> None:
    rclpy.init(args=[], domain=3)
    node.create_publisher(int, "t", 10, 11, 12, 13)
    Camera(context=None, parameter_overrides=[], enable_logging=True)
""",
    )
    assert found == [
        "rclpy.node.Node.create_timer() has no keyword 'autostart' in Humble",
        "rclpy.node.Node.create_subscription() has no keyword 'bogus_option' in Humble",
        "rclpy.init() has no keyword 'domain' in Humble",
        "rclpy.node.Node.create_publisher() takes 3 positional arguments in Humble, 6 given",
        "snippet.Camera() passes keyword 'enable_logging' to rclpy.lifecycle.node.LifecycleNode, which Humble's lacks",
    ], found


def test_it_flags_modules_and_names_humble_lacks(humble: HumbleRclpy) -> None:
    found = messages(
        humble,
        """
import rclpy
import rclpy.event_handler
from rclpy.qos import QoSProfile, QoSNoSuchPolicy
from rclpy.type_hash import TypeHash

def f() -> None:
    rclpy.logging.no_such_function()
    rclpy.qos.ReliabilityPolicy.BEST_EFFORT  # exists
""",
    )
    assert found == [
        "import rclpy.event_handler: no such module in Humble's rclpy",
        "from rclpy.qos import QoSNoSuchPolicy: not in Humble's rclpy",
        "from rclpy.type_hash import ...: no such module in Humble's rclpy",
        "rclpy.logging.no_such_function: not in Humble's rclpy",
    ], found


def test_it_accepts_what_humble_has(humble: HumbleRclpy) -> None:
    # Constructors through __new__ (Clock) or **kwargs (QoSProfile), classmethods, enums, nested classes, aliases.
    assert (
        messages(
            humble,
            """
import rclpy
from rclpy.clock import Clock, ClockType
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.time import Time

class Camera(LifecycleNode):
    def __init__(self, **kwargs) -> None:
        super().__init__("camera", **kwargs)
        self.timer = self.create_timer(1.0, self.tick, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.pub = self.create_publisher(int, "t", QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))

    def tick(self) -> None:
        self.pub.publish(1)
        self.timer.cancel()
        Time.from_msg(None, clock_type=self.get_clock().clock_type)
        self.declare_parameter("x", Parameter.Type.DOUBLE)

    def on_configure(self, state) -> TransitionCallbackReturn:
        return super().on_configure(state)

def main() -> None:
    context = rclpy.Context()
    rclpy.init(args=[], context=context, signal_handler_options=None)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(Camera(context=context, parameter_overrides=[]))
    executor.spin_once(timeout_sec=0.1)
    rclpy.try_shutdown(context=context)
""",
        )
        == []
    )
