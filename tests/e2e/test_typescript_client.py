"""The TypeScript client (`clients/typescript`, npm workspace `@lectern/client`) against this
stack: it builds with tsc and its node tests run a real class through it (join, vote, chat,
reconnect without loss) and check its errors, idempotency keys and retries."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[2]


def test_the_typescript_client_passes_its_tests_against_the_stack(stack):
    npm = shutil.which("npm")
    assert npm, "npm is installed by scripts/bootstrap.sh"
    origin = stack.base_url.rsplit("/api", 1)[0]
    run = subprocess.run(
        [npm, "test", "--silent", "-w", "@lectern/client"],
        cwd=REPO, env={**os.environ, "LECTERN_API_ORIGIN": origin},
        capture_output=True, text=True, timeout=280,
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-8000:]
    assert "# fail 0" in report and "# pass 0" not in report, report[-3000:]
