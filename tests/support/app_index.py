"""Lectern's own function index, built once per test process.

The `azure-functions` library indexes an app once: asking the same FunctionApp again
finds every function registered twice. Tests that need the index share this one.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import pytest

from devhost.indexing import IndexedFunction, index_app
from devhost.settings_file import load_settings
from shared_code.settings import get_settings

REPO = Path(__file__).resolve().parents[2]


@cache
def lectern_functions() -> tuple[IndexedFunction, ...]:
    """Indexed as the host does: the local settings fill what the environment leaves
    unset (the app refuses to index with production settings that would trust
    development tokens)."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in load_settings(REPO).values.items():
            if name not in os.environ:
                env.setenv(name, value)
        get_settings.cache_clear()
        try:
            return tuple(index_app(REPO))
        finally:
            get_settings.cache_clear()
