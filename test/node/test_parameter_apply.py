"""Parameter changes with only the on-set callback (all Humble's rclpy has): converted, validated, applied whole.

The node overrides set_parameters / set_parameters_atomically (both parameter services end in the latter on every
distribution): an integer for a double is converted before rclpy's type check, and the NodeConfig is swapped only
after rclpy stored the values, so a change that any on-set callback refuses leaves the configuration as it was.
"""

from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import SetParametersResult
from rclpy.parameter import Parameter

from stdc_ros.node.parameters import build_config, current_values


def test_an_integer_for_a_double_is_stored_as_a_double_and_applied(ros: Any) -> None:
    node = ros.start_node(f"seg_apply_int_{ros.domain_id}", {})
    result = node.set_parameters_atomically([Parameter("drivable.camera_height", value=2)])
    assert result.successful, result.reason
    stored = node.get_parameter("drivable.camera_height")
    assert stored.type_ == Parameter.Type.DOUBLE and stored.value == 2.0
    assert node.config.drivable.camera_height == 2.0

    [result] = node.set_parameters([Parameter("overlay.alpha", value=1)])
    assert result.successful and node.config.overlay_alpha == 1.0
    # A converted integer is still range-checked.
    [result] = node.set_parameters([Parameter("overlay.alpha", value=3)])
    assert not result.successful and "overlay.alpha" in result.reason
    assert node.config.overlay_alpha == 1.0 and node.config == build_config(current_values(node))


def test_a_change_another_callback_refuses_is_not_applied(ros: Any) -> None:
    node = ros.start_node(f"seg_apply_veto_{ros.domain_id}", {})
    before = node.config
    node.add_on_set_parameters_callback(lambda params: SetParametersResult(successful=False, reason="vetoed"))
    result = node.set_parameters_atomically([Parameter("overlay.alpha", value=0.1)])
    assert not result.successful and result.reason == "vetoed"
    [single] = node.set_parameters([Parameter("drivable.camera_height", value=3.0)])
    assert not single.successful
    assert node.config == before and node.get_parameter("overlay.alpha").value == before.overlay_alpha
