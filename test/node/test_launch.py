"""The launch file: parsed with ast here (names and paths match the package), run with the real launch package
where it is installed (skipped otherwise: it is not available as a wheel)."""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
LAUNCH_FILE = REPO / "launch" / "stdc_ros.launch.py"


def module_constants() -> dict[str, object]:
    tree = ast.parse(LAUNCH_FILE.read_text())
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            with contextlib.suppress(ValueError):
                constants[node.targets[0].id] = ast.literal_eval(node.value)
    return constants


def config_parameters() -> set[str]:
    data = yaml.safe_load((REPO / "config" / "stdc_ros.yaml").read_text())

    def names(tree: dict, prefix: str = "") -> set[str]:
        out: set[str] = set()
        for key, value in tree.items():
            out |= names(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}"}
        return out

    return names(data["/**"]["ros__parameters"])


def test_launch_file_names_match_the_package() -> None:
    c = module_constants()
    assert c["PACKAGE"] == "stdc_ros"
    assert (REPO / "package.xml").read_text().count("<name>stdc_ros</name>") == 1
    # The executable is a console script that ends up in lib/stdc_ros (setup.cfg), i.e. what `ros2 run` finds.
    setup = (REPO / "setup.py").read_text()
    assert re.search(rf'"{c["EXECUTABLE"]} = stdc_ros\.node\.main:main"', setup)
    assert "install_scripts=$base/lib/stdc_ros" in (REPO / "setup.cfg").read_text()
    # The packaged params file exists and setup.py installs config/ into share/stdc_ros.
    assert (REPO.joinpath(*c["PARAMS_FILE"])).is_file()
    assert '"config"' in setup and '"launch"' in setup
    # Every node parameter the launch file may set is a real parameter (use_sim_time is ROS's own).
    params = config_parameters() | {"use_sim_time"}
    assert set(c["PARAMETER_ARGUMENTS"]) | set(c["BOOLEAN_PARAMETERS"]) <= params
    declared = {name for name, _, _ in c["ARGUMENTS"]}
    assert set(c["PARAMETER_ARGUMENTS"]) | set(c["BOOLEAN_PARAMETERS"]) <= declared
    assert {"camera", "params_file", "image", "camera_info", "backend"} <= declared
    # The node gets the HD DDS profile through its environment (stdc_ros.dds_profile decides), switchable off.
    assert "dds_profile" in declared and "additional_env=_dds_environment(" in LAUNCH_FILE.read_text()
    assert (REPO / "config" / "dds" / "fastdds_hd.xml").is_file() and '"config/dds"' in setup
    # The remapped names are the node's own topics.
    text = LAUNCH_FILE.read_text()
    for topic in ("~/in/image", "~/in/image/compressed", "~/in/camera_info"):
        assert f'"{topic}"' in text
    from stdc_ros.node import inputs

    assert {inputs.IMAGE_TOPIC, inputs.COMPRESSED_TOPIC, inputs.CAMERA_INFO_TOPIC} == {
        "~/in/image",
        "~/in/image/compressed",
        "~/in/camera_info",
    }


def test_launch_parameter_arguments_match_the_parameter_declarations() -> None:
    """Each launch argument passed on as a node parameter is a declared parameter; its help lists exactly the
    declared choices; the boolean ones are declared booleans (use_sim_time is ROS's own)."""
    from stdc_ros.node.parameters import all_parameters, default_values

    c = module_constants()
    specs = {spec.name: spec for spec in all_parameters()}
    defaults = default_values()
    help_text = {name: text for name, _, text in c["ARGUMENTS"]}
    for name in c["PARAMETER_ARGUMENTS"]:
        assert name in specs, name
        assert isinstance(defaults[name], str), f"{name}: the launch file passes strings"
        if specs[name].choices:
            listed = help_text[name].split(";")[0].split(":")[-1]
            assert [choice.strip() for choice in listed.split("|")] == list(specs[name].choices), name
    for name in c["BOOLEAN_PARAMETERS"]:
        assert name == "use_sim_time" or isinstance(defaults[name], bool), name


def test_launch_file_is_a_ros2_launch_description() -> None:
    tree = ast.parse(LAUNCH_FILE.read_text())
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert "generate_launch_description" in functions
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert {"LaunchDescription", "DeclareLaunchArgument", "LifecycleNode", "FindPackageShare"} <= imported


def _real_launch_available() -> bool:
    if importlib.util.find_spec("launch_ros") is None:
        return False
    import launch

    return hasattr(launch, "LaunchDescription")  # the repo's launch/ folder is not the launch package


@pytest.mark.skipif(not _real_launch_available(), reason="the ROS 2 launch/launch_ros packages are not installed")
def test_launch_file_loads_with_the_real_launch_package() -> None:
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    from launch import LaunchContext, LaunchDescription

    source = PythonLaunchDescriptionSource(str(LAUNCH_FILE))
    description = source.get_launch_description(LaunchContext())
    assert isinstance(description, LaunchDescription)
    names = {a.name for a in description.get_launch_arguments()}
    assert {"camera", "params_file", "backend", "image"} <= names
