"""The bootstrap finds the Python the function app is deployed on where a machine keeps it:
on PATH, or only in pyenv's versions folder (a machine whose `python3` is an older one)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.unit


def found_python(tmp_path: Path, path: str, pyenv_root: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "scripts").mkdir(exist_ok=True)
    shutil.copy(REPO / "scripts" / "find_python.sh", tmp_path / "scripts" / "find_python.sh")
    shutil.copy(REPO / "requirements-dev.txt", tmp_path / "requirements-dev.txt")
    script = 'set -euo pipefail; . scripts/find_python.sh; printf "%s\\n" "$python_bin"'
    return subprocess.run(
        ["/bin/bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PATH": path, "HOME": str(tmp_path), "PYENV_ROOT": str(pyenv_root)},
    )


def test_a_python_on_path_of_the_deployed_version_is_taken(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3.13").symlink_to(sys.executable)
    result = found_python(tmp_path, f"{bin_dir}:/usr/bin:/bin", tmp_path / "no-pyenv")
    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stdout.strip() == str(bin_dir / "python3.13")


def test_a_pyenv_build_is_found_when_path_has_only_an_older_python(tmp_path: Path) -> None:
    pyenv_bin = tmp_path / "pyenv" / "versions" / "3.13.9" / "bin"
    pyenv_bin.mkdir(parents=True)
    (pyenv_bin / "python3.13").symlink_to(sys.executable)
    result = found_python(tmp_path, "/usr/bin:/bin", tmp_path / "pyenv")
    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stdout.strip() == str(pyenv_bin / "python3.13")
