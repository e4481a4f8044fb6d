"""What runs locally is what Azure runs: the function app's Python version in Bicep is the one
the bootstrap installs, the lock is resolved for, the type checker checks against and the
tests run on; and requirements.txt pins the worker runtime package that version reads."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _deployed_version() -> str:
    text = (REPO / "infra" / "bicep" / "modules" / "function-app.bicep").read_text()
    found = re.search(r"runtime: \{\s*name: 'python'\s*version: '([\d.]+)'\s*\}", text)
    assert found, "function-app.bicep names no Python runtime version"
    return found.group(1)


def test_the_bootstrap_finds_the_python_version_the_function_app_is_deployed_on() -> None:
    script = (REPO / "scripts" / "find_python.sh").read_text()
    assert re.search(rf"^LECTERN_PYTHON={re.escape(_deployed_version())}$", script, re.MULTILINE)


def test_the_lock_and_the_type_checker_target_the_deployed_version() -> None:
    deployed = _deployed_version()
    lock_script = (REPO / "scripts" / "lock.sh").read_text()
    assert '--python-version "$LECTERN_PYTHON"' in lock_script
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert config["tool"]["mypy"]["python_version"] == deployed
    assert config["tool"]["ruff"]["target-version"] == "py" + deployed.replace(".", "")


def test_the_tests_run_on_the_deployed_version() -> None:
    assert f"{sys.version_info.major}.{sys.version_info.minor}" == _deployed_version()


def test_requirements_pin_the_library_and_the_worker_runtime_of_that_version() -> None:
    pins = dict(
        line.split("==", 1)
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    assert pins["azure-functions"].startswith("2."), "Python 3.13 takes the 2.x line of azure-functions"
    assert "azure-functions-runtime" in pins, "the 3.13 worker runs the runtime package the app pins"
