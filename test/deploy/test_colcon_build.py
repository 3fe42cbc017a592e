"""The package builds with colcon (ament_python) and installs its entry points and data files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns(".venv*", ".git", "runs", "build", "install", "log", "__pycache__", "*.egg-info", "test")


@pytest.mark.slow
def test_colcon_build_installs_entry_points(tmp_path: Path) -> None:
    colcon = Path(sys.executable).parent / "colcon"
    if not colcon.exists():
        pytest.skip("colcon is not installed in this environment")
    src = tmp_path / "src" / "stdc_ros"
    shutil.copytree(REPO, src, ignore=SKIP)
    env = {**os.environ, "PATH": f"{colcon.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [str(colcon), "build", "--base-paths", "src", "--event-handlers", "console_direct-"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    prefix = tmp_path / "install" / "stdc_ros"
    for script in ("stdc-ros", "stdc_ros_node"):
        assert (prefix / "lib" / "stdc_ros" / script).is_file(), f"{script} not installed"
    share = prefix / "share" / "stdc_ros"
    for data in ("package.xml", "config/stdc_ros.yaml", "config/labels/camvid.yaml", "launch/stdc_ros.launch.py"):
        assert (share / data).is_file(), f"{data} not installed"
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / "stdc_ros").is_file()

    # The installed console script runs from the install space (as `ros2 run stdc_ros stdc-ros` would).
    site = next((prefix / "lib").glob("python3*/site-packages"))
    run_env = {**env, "PYTHONPATH": str(site), "AMENT_PREFIX_PATH": str(prefix)}
    out = subprocess.run(
        [str(prefix / "lib" / "stdc_ros" / "stdc-ros"), "--help"], env=run_env, capture_output=True, text=True
    )
    assert out.returncode == 0 and "make-bag" in out.stdout
