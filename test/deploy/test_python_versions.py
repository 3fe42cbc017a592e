"""The package's source compiles under the Pythons of the distributions it claims: 3.10 (Humble, Ubuntu 22.04 and
JetPack 6) and 3.12 (Jazzy and Kilted, Ubuntu 24.04). The suite itself runs on 3.11; an interpreter that is not on
this machine is skipped, with its name."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("stdc_ros", "training", "launch")
# Compiles every file in memory (nothing written) and prints the ones that fail, one a line.
CHECK = """
import sys
from pathlib import Path
bad = []
for root in sys.argv[1:]:
    for path in sorted(Path(root).rglob("*.py")):
        try:
            compile(path.read_text(encoding="utf-8"), str(path), "exec", dont_inherit=True)
        except SyntaxError as exc:
            bad.append(f"{path}:{exc.lineno}: {exc.msg}")
print("\\n".join(bad))
print(f"checked under {sys.version.split()[0]}", file=sys.stderr)
sys.exit(1 if bad else 0)
"""


def find_python(name: str) -> str | None:
    """A working ``name`` interpreter: on PATH (a pyenv shim there may not run: it is tried), else a pyenv build."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    version = name.removeprefix("python")
    candidates = [shutil.which(name), *sorted(str(p) for p in pyenv.glob(f"{version}.*/bin/{name}"))]
    for exe in filter(None, candidates):
        try:
            if subprocess.run([exe, "-c", "pass"], capture_output=True, timeout=30).returncode == 0:
                return exe
        except OSError:
            continue
    return None


@pytest.mark.parametrize("python", ["python3.10", "python3.12"])
def test_sources_compile_under_the_distributions_pythons(python: str) -> None:
    exe = find_python(python)
    if exe is None:
        pytest.skip(f"{python} is not on this machine")
    roots = [str(REPO_ROOT / name) for name in SOURCES]
    done = subprocess.run([exe, "-c", CHECK, *roots], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{python} cannot compile:\n{done.stdout}{done.stderr}"
    assert "checked under 3." in done.stderr


def test_the_check_catches_newer_syntax(tmp_path: Path) -> None:
    """``except*`` is Python 3.11 syntax: the check must refuse it under 3.10, or it proves nothing."""
    exe = find_python("python3.10")
    if exe is None:
        pytest.skip("python3.10 is not on this machine")
    (tmp_path / "new.py").write_text("try:\n    pass\nexcept* ValueError:\n    pass\n")
    done = subprocess.run([exe, "-c", CHECK, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "new.py:3" in done.stdout
