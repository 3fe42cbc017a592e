"""package.xml: every dependency key resolves on Humble, Jazzy and Kilted, and every ROS package imported is declared.

Reads the rosdistro snapshot in ../shared/rosdistro (override: STDC_ROSDISTRO); skips only where that snapshot is
absent (a user's checkout under ``colcon test``). ``rosdep install --from-paths src`` stops at the first key that
does not resolve, so one bad key breaks the whole install.
"""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import pytest

from .rosdep_keys import DISTRIBUTIONS, Distribution, Index, load_index, package_keys

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_XML = REPO_ROOT / "package.xml"
SOURCE_DIRS = ("stdc_ros", "launch", "test")
# Python modules whose ROS package has another name (the Python tf2_ros is released as tf2_ros_py).
MODULE_PACKAGE = {"tf2_ros": "tf2_ros_py"}


@pytest.fixture(scope="module")
def index() -> Index:
    root = Path(os.environ.get("STDC_ROSDISTRO", REPO_ROOT.parent / "shared" / "rosdistro"))
    if not root.is_dir():
        pytest.skip(f"no rosdistro snapshot at {root} (set STDC_ROSDISTRO)")
    return load_index(root)  # a snapshot that is there but incomplete fails here


def test_the_snapshot_names_the_ubuntu_releases_and_packages_of_each_distribution(index: Index) -> None:
    # Guards against a vacuous pass: with no codenames every rosdep key would "resolve".
    for name in DISTRIBUTIONS:
        dist = index.distributions[name]
        assert dist.ubuntu, f"{name}: no Ubuntu release in release_platforms"
        assert {"rclpy", "sensor_msgs", "launch_ros"} <= dist.packages, f"{name}: core packages missing"
    assert index.distributions["humble"].ubuntu == ("jammy",)
    assert "python3-numpy" in index.rules


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_every_package_xml_key_resolves(index: Index, distribution: str) -> None:
    keys = package_keys(PACKAGE_XML)
    assert "rclpy" in keys, "package.xml was not parsed"
    unresolved = index.unresolved(keys, distribution)
    assert not unresolved, f"rosdep install on {distribution} would stop at: {'; '.join(unresolved)}"


def test_the_checker_catches_a_key_that_exists_nowhere(index: Index) -> None:
    xml = (
        "<package format='3'><name>x</name><exec_depend>rclpy</exec_depend>"
        "<exec_depend>rclpy_lifecycle</exec_depend><test_depend>python3-pytest</test_depend></package>"
    )
    keys = package_keys(xml)
    assert keys == ["rclpy", "rclpy_lifecycle", "python3-pytest"]
    for name in DISTRIBUTIONS:
        [problem] = index.unresolved(keys, name)
        assert problem.startswith("rclpy_lifecycle ")


def test_the_checker_reads_rules_per_ubuntu_release() -> None:
    index = Index(
        {
            "humble": Distribution("humble", ("jammy",), frozenset({"rclpy"})),
            "jazzy": Distribution("jazzy", ("noble",), frozenset({"rclpy", "only_jazzy"})),
        },
        {
            "not-on-jammy": {"ubuntu": {"*": ["x"], "jammy": None}},
            "only-noble": {"ubuntu": {"noble": ["x"]}},
            "pip-everywhere": {"ubuntu": {"pip": {"packages": ["x"]}}},
            "debian-only": {"debian": ["x"]},
        },
    )
    keys = ["rclpy", "only_jazzy", "not-on-jammy", "only-noble", "pip-everywhere", "debian-only"]
    humble = [p.split()[0] for p in index.unresolved(keys, "humble")]
    jazzy = [p.split()[0] for p in index.unresolved(keys, "jazzy")]
    assert humble == ["only_jazzy", "not-on-jammy", "only-noble", "debian-only"]
    assert jazzy == ["debian-only"]


def imported_modules(folder: Path) -> dict[str, str]:
    """{top-level module: first file importing it} of every import statement under ``folder``."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.partition(".")[0], str(path.relative_to(REPO_ROOT)))
    return found


def test_every_imported_ros_package_is_declared(index: Index) -> None:
    released = frozenset().union(*(d.packages for d in index.distributions.values()))
    declared = set(package_keys(PACKAGE_XML))
    imported: dict[str, str] = {}
    for folder in SOURCE_DIRS:
        for module, where in imported_modules(REPO_ROOT / folder).items():
            imported.setdefault(MODULE_PACKAGE.get(module, module), where)
    ros = {package: where for package, where in imported.items() if package in released}
    assert {"rclpy", "sensor_msgs", "builtin_interfaces"} <= set(ros), "import scan found too little"
    missing = sorted(f"{package} (imported in {where})" for package, where in ros.items() if package not in declared)
    assert not missing, f"ROS packages imported but not declared in package.xml: {', '.join(missing)}"


def test_the_readmes_skip_keys_are_keys_of_package_xml() -> None:
    # The README's ROS steps skip the pip keys a venv or NVIDIA's Jetson wheel replaces: they must be real keys here.
    readme = (REPO_ROOT / "README.md").read_text()
    skipped = {key for match in re.findall(r'--skip-keys "?([\w\- ]+)"?', readme) for key in match.split()}
    assert skipped, "the README names no --skip-keys"
    assert skipped <= set(package_keys(PACKAGE_XML)), f"not in package.xml: {skipped - set(package_keys(PACKAGE_XML))}"
