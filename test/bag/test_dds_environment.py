"""The evaluator's DDS settings: applied where the user left them unset, never over the user's own."""

from __future__ import annotations

import pytest

from stdc_ros.bag.ros import dds_environment

USER_SETTINGS = (
    "FASTDDS_BUILTIN_TRANSPORTS",
    "FASTRTPS_DEFAULT_PROFILES_FILE",
    "FASTDDS_DEFAULT_PROFILES_FILE",
    "ROS_AUTOMATIC_DISCOVERY_RANGE",
    "ROS_STATIC_PEERS",
    "ROS_LOCALHOST_ONLY",
    "ROS_DISCOVERY_SERVER",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key in USER_SETTINGS:
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_defaults_applied_on_a_clean_environment(clean_env: pytest.MonkeyPatch) -> None:
    assert dds_environment("LARGE_DATA", "LOCALHOST") == {
        "FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA",
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
    }
    assert dds_environment(None, None) == {}


@pytest.mark.parametrize("key", ["FASTDDS_BUILTIN_TRANSPORTS", "FASTDDS_DEFAULT_PROFILES_FILE"])
def test_user_transport_kept(clean_env: pytest.MonkeyPatch, key: str) -> None:
    clean_env.setenv(key, "UDPv4" if key == "FASTDDS_BUILTIN_TRANSPORTS" else "/etc/fastdds.xml")
    assert dds_environment("LARGE_DATA", "LOCALHOST") == {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ROS_AUTOMATIC_DISCOVERY_RANGE", "SUBNET"),
        ("ROS_STATIC_PEERS", "192.168.1.7"),
        ("ROS_LOCALHOST_ONLY", "1"),
        ("ROS_DISCOVERY_SERVER", "127.0.0.1:11811"),
    ],
)
def test_user_discovery_kept(clean_env: pytest.MonkeyPatch, key: str, value: str) -> None:
    clean_env.setenv(key, value)
    assert dds_environment("LARGE_DATA", "LOCALHOST") == {"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA"}


def test_unknown_range_rejected(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="LOCALHOST"):
        dds_environment(None, "localhost-only")
    clean_env.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "SUBNET")  # a bad option is an error whatever the environment
    with pytest.raises(ValueError, match="LOCALHOST"):
        dds_environment(None, "localhost-only")
