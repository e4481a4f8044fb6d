"""Lectern's own function index, built once per test process.

The `azure-functions` library indexes an app once: asking the same FunctionApp again
finds every function registered twice. Tests that need the index share this one.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from devhost.indexing import IndexedFunction, index_app

REPO = Path(__file__).resolve().parents[2]


@cache
def lectern_functions() -> tuple[IndexedFunction, ...]:
    return tuple(index_app(REPO))
