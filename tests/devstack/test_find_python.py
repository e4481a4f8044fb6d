"""The bootstrap finds the Python the function app is deployed on where a machine keeps it:
on PATH, or only in pyenv's versions folder (a machine whose `python3` is an older one);
where there is none, it asks uv for one, and stops with a clear message when that fails."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.unit


def found_python(
    tmp_path: Path, path: str, pyenv_root: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "scripts").mkdir(exist_ok=True)
    shutil.copy(REPO / "scripts" / "find_python.sh", tmp_path / "scripts" / "find_python.sh")
    shutil.copy(REPO / "requirements-dev.txt", tmp_path / "requirements-dev.txt")
    script = 'set -euo pipefail; . scripts/find_python.sh; printf "%s\\n" "$python_bin"'
    return subprocess.run(
        ["/bin/bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PATH": path, "HOME": str(tmp_path), "PYENV_ROOT": str(pyenv_root), **env},
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


def test_without_one_uv_is_asked_and_a_failed_download_stops_with_what_to_install(tmp_path: Path) -> None:
    """The machine's python3 is older and pyenv has nothing: the finder installs uv (the
    version requirements-dev.txt pins) and asks it for a build. uv's downloads come from a
    mirror that does not exist here, so the download fails as an unreachable one does."""
    older = subprocess.run(["/usr/bin/python3", "-c", "import sys; print(sys.version_info[:2] < (3, 13))"],
                           capture_output=True, text=True, check=False).stdout.strip()
    if older != "True":
        pytest.skip("this machine's /usr/bin/python3 is not older than the deployed version")
    missing = tmp_path / "no-mirror"
    result = found_python(
        tmp_path, "/usr/bin:/bin", tmp_path / "no-pyenv", UV_PYTHON_INSTALL_MIRROR=missing.as_uri()
    )
    assert result.returncode == 1, result.stderr + result.stdout
    assert "no Python 3.13 found; asking uv for one" in result.stdout
    assert (tmp_path / ".python" / "uv" / "bin" / "uv").exists(), result.stderr
    assert str(missing) in result.stderr  # uv itself tried the download
    assert "Install Python 3.13 with venv (python3.13 on PATH), then run this again." in result.stdout
