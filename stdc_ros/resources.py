"""Find the package's data files (config/, launch/, models/) in a source tree, a pip or a colcon install."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = "stdc_ros"
SOURCE_ROOT = Path(__file__).resolve().parent.parent


def share_dirs() -> list[Path]:
    """Candidate roots, most specific first: ament share dirs, the interpreter's share dir, the source tree."""
    dirs: list[Path] = []
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            dirs.append(Path(prefix) / "share" / PACKAGE)
    dirs.append(Path(sys.prefix) / "share" / PACKAGE)
    dirs.append(SOURCE_ROOT)
    return dirs


def find_share_file(relative: str | Path) -> Path:
    """Path of a packaged data file such as ``config/stdc_ros.yaml``; FileNotFoundError lists where it looked."""
    relative = Path(relative)
    looked = []
    for root in share_dirs():
        candidate = root / relative
        if candidate.exists():
            return candidate
        looked.append(str(candidate))
    raise FileNotFoundError(f"{relative} not found; looked in: {', '.join(looked)}")
