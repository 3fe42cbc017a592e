"""Resolve package.xml dependency keys against a snapshot of the ROS distribution index, the way rosdep does.

A key resolves on a distribution when it is a ROS package released there (``distribution.yaml``) or a rosdep key
(``rosdep/base.yaml``, ``rosdep/python.yaml``) with a rule for every Ubuntu release of that distribution. The Ubuntu
codenames come from the distribution file's own ``release_platforms``, so nothing here is a hand-kept table.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DISTRIBUTIONS = ("humble", "jazzy", "kilted")
DEPENDENCY_TAGS = (
    "depend",
    "build_depend",
    "build_export_depend",
    "buildtool_depend",
    "buildtool_export_depend",
    "exec_depend",
    "test_depend",
    "doc_depend",
)
ROSDEP_FILES = ("rosdep/base.yaml", "rosdep/python.yaml")
# rosdep reads a rule dict as installer -> packages when one of its keys is an installer, else as codename -> rule.
INSTALLERS = frozenset({"apt", "pip", "source", "gem", "npm"})


def _read_yaml(path: Path) -> Any:
    """Safe YAML through libyaml where PyYAML has it (the distribution files are large), else pure Python."""
    text = path.read_text()
    if hasattr(yaml, "CSafeLoader"):
        return yaml.load(text, Loader=yaml.CSafeLoader)
    return yaml.safe_load(text)


def package_keys(package_xml: Path | str) -> list[str]:
    """Every dependency key of a package.xml (file path or XML text), in document order."""
    text = package_xml.read_text() if isinstance(package_xml, Path) else package_xml
    root = ET.fromstring(text)
    return [element.text.strip() for element in root if element.tag in DEPENDENCY_TAGS and element.text]


@dataclass(frozen=True)
class Distribution:
    name: str
    ubuntu: tuple[str, ...]  # the Ubuntu codenames it is released for
    packages: frozenset[str]  # ROS packages it releases


@dataclass(frozen=True)
class Index:
    """The parts of a rosdistro snapshot that decide whether a key resolves."""

    distributions: Mapping[str, Distribution]
    rules: Mapping[str, Mapping[str, Any]]  # rosdep key -> {os name: rule}

    def unresolved(self, keys: Iterable[str], distribution: str) -> list[str]:
        """The keys that do not resolve on ``distribution`` (each with why), in the order given."""
        dist = self.distributions[distribution]
        problems = []
        for key in keys:
            if key in dist.packages:
                continue
            if key not in self.rules:
                problems.append(f"{key} (neither a {distribution} package nor a rosdep key)")
                continue
            missing = [codename for codename in dist.ubuntu if not has_rule(self.rules[key], "ubuntu", codename)]
            if missing:
                problems.append(f"{key} (rosdep key without a rule for ubuntu {', '.join(missing)})")
        return problems


def has_rule(definition: Mapping[str, Any], os_name: str, codename: str) -> bool:
    """Whether a rosdep definition installs something on ``os_name``/``codename`` (null means 'not available')."""
    rule = definition.get(os_name)
    if isinstance(rule, dict) and not INSTALLERS.intersection(rule):
        rule = rule.get(codename, rule.get("*"))
    if isinstance(rule, dict):  # e.g. {pip: {packages: [onnxruntime]}}
        return any(rule.get(installer) for installer in INSTALLERS.intersection(rule))
    return bool(rule)


def released_packages(distribution_yaml: Mapping[str, Any]) -> frozenset[str]:
    """Packages of every repository with a released version (its package list, else the repository's name)."""
    names: set[str] = set()
    for repo, spec in (distribution_yaml.get("repositories") or {}).items():
        release = (spec or {}).get("release") or {}
        if release.get("version"):
            names.update(release.get("packages") or [repo])
    return frozenset(names)


@cache
def load_index(root: Path) -> Index:
    """Read a rosdistro snapshot (the layout of ../shared/rosdistro; see its README)."""
    distributions = {}
    for name in DISTRIBUTIONS:
        data = _read_yaml(root / name / "distribution.yaml")
        ubuntu = tuple((data.get("release_platforms") or {}).get("ubuntu") or ())
        distributions[name] = Distribution(name, ubuntu, released_packages(data))
    rules: dict[str, Mapping[str, Any]] = {}
    for relative in ROSDEP_FILES:
        rules.update(_read_yaml(root / relative) or {})
    return Index(distributions, rules)
