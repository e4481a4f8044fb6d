"""Sums what bench/gc_pauses/sitecustomize.py recorded: per process, the pauses over 2 ms,
the full collections and the longest pause.

    .venv/bin/python bench/gc_pauses/summary.py bench/out/gc
"""

from __future__ import annotations

import sys
from pathlib import Path


def summarize(path: Path) -> str:
    pauses = [line.split() for line in path.read_text().splitlines() if line.strip()]
    if not pauses:
        return f"{path.name}: nothing recorded"
    ms = [float(p[2]) for p in pauses]
    full = [float(p[2]) for p in pauses if p[1] == "gen2"]
    return (f"{path.name}: {len(ms)} pauses, {sum(ms):.0f} ms in all, longest {max(ms):.1f} ms; "
            f"{len(full)} full collections ({sum(full):.0f} ms)")


def main() -> int:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/out/gc")
    for path in sorted(folder.glob("*.log")):
        print(summarize(path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
