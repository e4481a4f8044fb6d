"""Which code a benchmark's figures were measured on, and whether that code has changed since.

run_all records, for every benchmark it runs, the commit checked out and any uncommitted
change to the benchmark's own code; report.py asks git whether that code changed after the
recorded commit. A figure whose code moved on (or whose commit was never recorded) is
stale: it may still be right, but nothing shows that it is.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The code each benchmark's figures depend on: the script, what every script shares, and
# the peer for the live class. The product code is not listed: the figures are re-measured
# after product changes on purpose, while a changed benchmark measures something else.
SHARED = ("bench/common.py",)
CODE: dict[str, tuple[str, ...]] = {
    "stores": ("bench/stores.py",),
    "api": ("bench/api.py",),
    "flush": ("bench/flush.py",),
    "analytics": ("bench/analytics.py",),
    "pubsub_broadcast": ("bench/pubsub_broadcast.py",),
    "live_class": ("bench/live_class.py", "bench/live_repeats.py", "bench/live_students.py", "bench/live_sides.py",
                   "bench/peer"),
}


def code_of(benchmark: str) -> tuple[str, ...]:
    return CODE.get(benchmark, (f"bench/{benchmark}.py",)) + SHARED


def git(*args: str, root: Path = ROOT) -> str | None:
    """git's output, or None when git is missing or the command fails."""
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    except OSError:
        return None
    return done.stdout if done.returncode == 0 else None


def head_commit(root: Path = ROOT) -> str | None:
    out = git("rev-parse", "HEAD", root=root)
    return out.strip() if out else None


def uncommitted(paths: tuple[str, ...], root: Path = ROOT) -> list[str]:
    """Files among `paths` that differ from HEAD in the working tree (the run measures those)."""
    out = git("status", "--porcelain", "--", *paths, root=root)
    return sorted(line[3:].strip() for line in (out or "").splitlines() if line.strip())


@dataclass(frozen=True)
class Staleness:
    """Why a benchmark's figures may no longer describe its code; `reason` is None when they do."""

    reason: str | None
    changed: tuple[str, ...] = ()

    @property
    def stale(self) -> bool:
        return self.reason is not None


def staleness(benchmark: str, commit: str | None, dirty: list[str] | None = None, root: Path = ROOT) -> Staleness:
    """Compares the benchmark's code at `commit` with HEAD."""
    if not commit:
        return Staleness("measured at an unknown commit (before commits were recorded)")
    if dirty:
        return Staleness(f"measured with uncommitted changes to {', '.join(dirty)}", tuple(dirty))
    if git("cat-file", "-e", f"{commit}^{{commit}}", root=root) is None:
        return Staleness(f"commit {commit[:10]} is not in this history")
    out = git("diff", "--name-only", commit, "HEAD", "--", *code_of(benchmark), root=root)
    if out is None:
        return Staleness(f"cannot compare {commit[:10]} with HEAD")
    changed = tuple(sorted(line.strip() for line in out.splitlines() if line.strip()))
    if changed:
        return Staleness(f"{', '.join(changed)} changed after {commit[:10]}", changed)
    return Staleness(None)
