"""The TypeScript client's generated types are those of the committed contracts: `make openapi`
regenerates them, and a spec change without the regenerated types fails here."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_generated_typescript_is_current():
    node = shutil.which("node")
    assert node, "node is installed by scripts/bootstrap.sh"
    run = subprocess.run([node, "clients/typescript/scripts/generate.mjs", "--check"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
