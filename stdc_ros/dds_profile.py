"""The shipped Fast DDS profile for large camera frames (config/dds/fastdds_hd.xml) and where it applies.

Fast DDS reads its default XML profile once per process, when the first participant is made (rclpy.init), from
``FASTDDS_DEFAULT_PROFILES_FILE`` (Fast DDS 3.x, ROS 2 Kilted) or ``FASTRTPS_DEFAULT_PROFILES_FILE`` (2.x, Humble
and Jazzy); the one the installed Fast DDS reads is set (3.x warns at every start about the old name), both where
the version cannot be told. Nothing is set where the user configured Fast DDS already (either
variable, ``FASTDDS_BUILTIN_TRANSPORTS``, or a ``DEFAULT_FASTDDS_PROFILES.xml`` / ``DEFAULT_FASTRTPS_PROFILES.xml``
in the working folder, which Fast DDS loads by itself) or chose another middleware. No ROS import here: the
launch file uses this module too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from importlib import metadata
from pathlib import Path

HD_PROFILE = "config/dds/fastdds_hd.xml"
PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
FASTDDS_SETTINGS = ("FASTDDS_BUILTIN_TRANSPORTS", *PROFILE_VARIABLES)
WORKING_FOLDER_PROFILES = ("DEFAULT_FASTDDS_PROFILES.xml", "DEFAULT_FASTRTPS_PROFILES.xml")
DOCS = "docs/node.md, section 'HD cameras and DDS'"


FASTDDS_2_DISTROS = ("humble", "iron", "jazzy")  # ROS_DISTRO values whose Fast DDS is 2.x


def profile_variables(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The profile variable(s) the installed Fast DDS reads: from ROS_DISTRO on a ROS install, else from the
    Fast DDS wheel (``ros-fastdds`` 3.x, ``ros-fastrtps`` 2.x), else both."""
    distro = environ.get("ROS_DISTRO", "").lower()
    if distro:
        return PROFILE_VARIABLES[1:] if distro in FASTDDS_2_DISTROS else PROFILE_VARIABLES[:1]
    for wheel, variables in (("ros-fastdds", PROFILE_VARIABLES[:1]), ("ros-fastrtps", PROFILE_VARIABLES[1:])):
        try:
            metadata.version(wheel)
        except metadata.PackageNotFoundError:
            continue
        return variables
    return PROFILE_VARIABLES


def hd_profile_path() -> Path | None:
    """The packaged profile (source tree, pip or colcon install), or None when it is not installed."""
    from .resources import find_share_file

    try:
        return find_share_file(HD_PROFILE).resolve()
    except FileNotFoundError:
        return None


def uses_fastdds(environ: Mapping[str, str]) -> bool:
    """Fast DDS is the middleware: RMW_IMPLEMENTATION unset (the default) or one of the rmw_fastrtps_* ones."""
    rmw = environ.get("RMW_IMPLEMENTATION", "")
    return not rmw or rmw.startswith("rmw_fastrtps")


def user_fastdds_setting(environ: Mapping[str, str], cwd: Path | None = None) -> str:
    """The user's own Fast DDS configuration as a short text ("" when there is none)."""
    for key in FASTDDS_SETTINGS:
        if environ.get(key):
            return f"{key}={environ[key]}"
    folder = cwd if cwd is not None else Path.cwd()
    for name in WORKING_FOLDER_PROFILES:
        if (folder / name).is_file():
            return f"{folder / name}"
    return ""


def profile_environment(
    profile: Path | str | None, environ: Mapping[str, str] | None = None, cwd: Path | None = None
) -> dict[str, str]:
    """``{variable: profile}`` for the profile variable(s) of the installed Fast DDS, or {} when ``profile`` is None,
    another middleware is chosen or the user configured Fast DDS (``environ`` defaults to os.environ)."""
    environ = os.environ if environ is None else environ
    if profile is None or not uses_fastdds(environ) or user_fastdds_setting(environ, cwd):
        return {}
    return dict.fromkeys(profile_variables(environ), str(profile))


def apply_hd_profile(profile: Path | str | None = "packaged", environ: MutableMapping[str, str] | None = None) -> str:
    """Put the HD profile into ``environ`` (default os.environ) unless the user configured DDS; must run before
    the process's first rclpy.init. ``profile`` "packaged" is the shipped file, None or "none" leaves DDS alone.
    Returns one line for the log saying what was done."""
    environ = os.environ if environ is None else environ
    if profile is None or str(profile).lower() == "none":
        return "DDS: left as configured (no profile requested)"
    path = hd_profile_path() if str(profile) == "packaged" else Path(profile)
    if path is None:
        return f"DDS: {HD_PROFILE} is not installed; large frames may not arrive ({DOCS})"
    if not path.is_file():
        raise FileNotFoundError(f"DDS profile not found: {path}")
    if not uses_fastdds(environ):
        return f"DDS: {environ.get('RMW_IMPLEMENTATION')} in use, Fast DDS profile not applied ({DOCS})"
    own = user_fastdds_setting(environ)
    if own:
        return f"DDS: left as configured ({own})"
    environ.update(profile_environment(path, environ))
    return f"DDS: Fast DDS profile {path} (large frames; {DOCS})"
