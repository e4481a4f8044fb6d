"""Writes the API contracts from the code alone, no service running: docs/openapi.json (HTTP),
docs/asyncapi.json (live-class messages) and docs/problems.md (problem types).

`make openapi` runs it (then regenerates the TypeScript client's types from the result);
`--check` only compares, and fails when a committed file is stale.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def render(value: Any) -> str:
    """Stable text for a committed document: two-space indent, a final newline."""
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def documents() -> dict[str, str]:
    """Each contract file's text, as the code defines it. The app is indexed the way the
    local host does: the local settings fill what the environment leaves unset, so the
    development-only operations (`POST /api/dev/token`) are in the document as a
    development host serves it."""
    from devhost.settings_file import load_settings

    for name, value in load_settings(REPO).values.items():
        os.environ.setdefault(name, value)
    import function_app  # noqa: F401 - registers every operation
    from shared_code.asyncapi import build_asyncapi
    from shared_code.openapi import build_document
    from shared_code.problem_types import problems_markdown

    return {
        "docs/openapi.json": render(build_document()),
        "docs/asyncapi.json": render(build_asyncapi()),
        "docs/problems.md": problems_markdown(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when a committed file differs")
    args = parser.parse_args()
    stale = []
    for rel, text in documents().items():
        path = REPO / rel
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(rel)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {rel}")
    if stale:
        print("stale: " + ", ".join(stale) + " (run `make openapi` and commit)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
