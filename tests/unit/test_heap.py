"""A worker that loaded the app keeps its startup heap out of the cyclic collector's walks
(shared_code/heap.py): full collections under load then cost what requests made, not what
the imports made."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devhost.settings_file import load_settings
from shared_code import heap

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
LOAD_THE_APP = (
    "import gc, json\n"
    "before = gc.get_freeze_count()\n"
    "import function_app\n"
    "print(json.dumps({'before': before, 'after': gc.get_freeze_count(), 'thresholds': gc.get_threshold()}))\n"
)


def test_loading_the_app_freezes_what_it_imported_and_sets_the_thresholds():
    env = {**load_settings(REPO).values, **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}}
    done = subprocess.run([sys.executable, "-c", LOAD_THE_APP], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["before"] == 0
    # The app's imports are tens of thousands of objects; all of them are frozen.
    assert seen["after"] > 50_000
    assert tuple(seen["thresholds"]) == heap.THRESHOLDS
