"""The evaluator's DDS settings: applied where the user left them unset, never over the user's own."""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path
from xml.etree import ElementTree

import pytest

from stdc_ros.dds_profile import apply_hd_profile, hd_profile_path, profile_environment, profile_variables
from stdc_ros.rosbag.ros import dds_environment

USER_SETTINGS = (
    "FASTDDS_BUILTIN_TRANSPORTS",
    "FASTRTPS_DEFAULT_PROFILES_FILE",
    "FASTDDS_DEFAULT_PROFILES_FILE",
    "ROS_AUTOMATIC_DISCOVERY_RANGE",
    "ROS_STATIC_PEERS",
    "ROS_LOCALHOST_ONLY",
    "ROS_DISCOVERY_SERVER",
    "RMW_IMPLEMENTATION",
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


# --- the HD profile (config/dds/fastdds_hd.xml) -----------------------------------------------------------------
FASTDDS_3, FASTDDS_2 = "FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE"


def test_profile_variable_follows_the_installed_fast_dds(monkeypatch: pytest.MonkeyPatch) -> None:
    for distro in ("humble", "jazzy"):
        assert profile_variables({"ROS_DISTRO": distro}) == (FASTDDS_2,)
    assert profile_variables({"ROS_DISTRO": "kilted"}) == (FASTDDS_3,)
    # No ROS install sourced: the wheels tell. Kilted's rclpy (9.x) comes with Fast DDS 3, Jazzy's (7.x) with 2.x.
    rclpy_major = int(metadata.version("ros-rclpy").split(".")[0])
    assert profile_variables({}) == ((FASTDDS_3,) if rclpy_major >= 9 else (FASTDDS_2,))
    monkeypatch.setattr(metadata, "version", lambda name: (_ for _ in ()).throw(metadata.PackageNotFoundError(name)))
    assert profile_variables({}) == (FASTDDS_3, FASTDDS_2)  # unknown: both


def test_packaged_profile_for_the_installed_fast_dds(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.delenv("RMW_IMPLEMENTATION", raising=False)
    env = dds_environment("LARGE_DATA", "LOCALHOST", "packaged")
    profile = hd_profile_path()
    assert profile is not None and profile.name == "fastdds_hd.xml"
    # The profile replaces the builtin-transport fallback: the two would fight over the transports.
    variables = profile_variables(os.environ)
    assert env == {**dict.fromkeys(variables, str(profile)), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}


def test_profile_is_a_valid_fast_dds_transport_profile() -> None:
    profile = hd_profile_path()
    assert profile is not None
    root = ElementTree.parse(profile).getroot()
    ns = {"d": "http://www.eprosima.com"}
    descriptors = {
        d.findtext("d:transport_id", namespaces=ns): d for d in root.iterfind(".//d:transport_descriptor", ns)
    }
    participant = root.find(".//d:participant", ns)
    assert participant is not None and participant.get("is_default_profile") == "true"
    used = [t.text for t in participant.iterfind("d:rtps/d:userTransports/d:transport_id", ns)]
    assert set(used) == set(descriptors)
    types = {d.findtext("d:type", namespaces=ns): d for d in descriptors.values()}
    assert set(types) == {"SHM", "UDPv4"}
    # A 1920x1080 bgr8 frame (6.2 MB) and a few of its outputs fit the shared-memory segment.
    assert int(types["SHM"].findtext("d:segment_size", namespaces=ns)) >= 4 * 1920 * 1080 * 3


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("FASTDDS_BUILTIN_TRANSPORTS", "UDPv4"),
        ("FASTRTPS_DEFAULT_PROFILES_FILE", "/etc/fastdds.xml"),
        ("FASTDDS_DEFAULT_PROFILES_FILE", "/etc/fastdds.xml"),
    ],
)
def test_user_fast_dds_settings_win_over_the_profile(clean_env: pytest.MonkeyPatch, key: str, value: str) -> None:
    clean_env.setenv(key, value)
    assert dds_environment(None, None, "packaged") == {}
    assert profile_environment(hd_profile_path()) == {}
    environ = {key: value}
    assert apply_hd_profile("packaged", environ).startswith("DDS: left as configured")
    assert environ == {key: value}


def test_profile_left_alone_for_another_middleware_or_a_working_folder_profile(tmp_path: Path) -> None:
    profile = hd_profile_path()
    assert profile_environment(profile, {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}, tmp_path) == {}
    assert profile_environment(profile, {"RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"}, tmp_path) != {}
    (tmp_path / "DEFAULT_FASTDDS_PROFILES.xml").write_text("<dds/>")
    assert profile_environment(profile, {}, tmp_path) == {}


def test_apply_sets_the_process_environment_once(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    line = apply_hd_profile("packaged", environ)
    assert "fastdds_hd.xml" in line and environ == dict.fromkeys(profile_variables({}), str(hd_profile_path()))
    assert apply_hd_profile("none", environ).startswith("DDS: left as configured")
    with pytest.raises(FileNotFoundError):
        apply_hd_profile(tmp_path / "missing.xml", {})
    with pytest.raises(FileNotFoundError):
        dds_environment(None, None, tmp_path / "missing.xml")
