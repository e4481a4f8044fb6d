"""The dependency lock: the bootstrap installs only from requirements.lock, and only while
that lock was resolved from the requirement files as they are now."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.unit


def test_the_committed_lock_was_resolved_from_the_committed_requirement_files():
    inputs = hashlib.sha256((REPO / "requirements.txt").read_bytes() + (REPO / "requirements-dev.txt").read_bytes()).hexdigest()
    first = (REPO / "requirements.lock").read_text().splitlines()[0]
    assert first.startswith(f"# inputs sha256: {inputs} "), "requirements*.txt changed since the lock: run `make lock`"


def test_bootstrap_refuses_a_lock_older_than_the_requirements_and_installs_nothing(tmp_path):
    # A checkout where someone added a package to requirements.txt but did not run `make lock`.
    (tmp_path / "scripts").mkdir()
    for script in ("bootstrap.sh", "find_python.sh"):
        shutil.copy(REPO / "scripts" / script, tmp_path / "scripts" / script)
    for name in ("requirements.txt", "requirements-dev.txt", "requirements.lock"):
        shutil.copy(REPO / name, tmp_path / name)
    with (tmp_path / "requirements.txt").open("a") as requirements:
        requirements.write("stripe>=10,<15\n")

    result = subprocess.run(["bash", "scripts/bootstrap.sh"], cwd=tmp_path, capture_output=True, text=True, timeout=120)

    assert result.returncode == 1
    assert "requirements.lock does not match requirements.txt / requirements-dev.txt" in result.stdout
    assert "Run `make lock`" in result.stdout
    assert not (tmp_path / ".venv").exists(), "nothing is installed from a stale lock"
