"""Parsing the project's own source in tests.

CPython 3.11 keeps the AST constructor's recursion counter per interpreter, not per
thread: an `ast.parse` running while another thread parses (hypothesis describing a
strategy, a library compiling a snippet) can fail with "AST constructor recursion depth
mismatch" although the source is fine. The parse is repeated then; a real syntax error
still raises.
"""

from __future__ import annotations

import ast
import time
from pathlib import Path

ATTEMPTS = 5


def parse(path: Path) -> ast.Module:
    for attempt in range(ATTEMPTS):
        try:
            return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SystemError as exc:
            if "recursion depth mismatch" not in str(exc) or attempt == ATTEMPTS - 1:
                raise
            time.sleep(0.01)
    raise AssertionError("unreachable")
