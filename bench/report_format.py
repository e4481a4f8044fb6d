"""The report's paths, targets and formatting, and `Results`: bench/results.json as the
report reads it (each benchmark's figures, its run, and when and at which commit it was
measured).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from provenance import Staleness, staleness

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
DOC = ROOT / "docs" / "BENCHMARKS.md"
CAPACITY = ROOT / "docs" / "CAPACITY.md"
PLOTS = ROOT / "docs" / "bench"

TARGETS = ("lectern", "peer")
# Live-class targets from the benchmark issue: (figure, class size, limit).
LIVE_P99_LIMITS = {1000: 150.0, 5000: 500.0}
PEER_P99_RATIO_LIMIT = 1.5
PEER_CPU_RATIO_LIMIT = 2.0
# The API phases each target is drawn from (results written before targets named them).
API_TARGET_PHASES = {"heartbeatOverNoop": ["heartbeat", "noop"], "heartbeatP99Ms": ["heartbeat"],
                     "cachedOverNoop": ["lesson_cached", "noop"], "cachedOverUncached": ["lesson_cached", "lesson_uncached"],
                     "quizSubmitRps": ["quiz_submit"], "quizSubmitP99Ms": ["quiz_submit"], "quizSubmitCpuUs": ["quiz_submit"]}
NOT_MEASURED = "not measured"


# --- formatting -----------------------------------------------------------------------------
def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if 0 < abs(value) < 1:
            return f"{value:.{max(digits, 2)}f}"
        return f"{value:,.{digits}f}"
    return str(value)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell if isinstance(cell, str) else fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(met: bool | None, problems: list[str] | None = None, stale: bool = False) -> str:
    """met / missed only for a clean, measured figure; a failure or a missing figure says so."""
    if problems:
        text = "**failed** (" + "; ".join(problems) + ")"
    elif met is None:
        text = f"**{NOT_MEASURED}**"
    else:
        text = "met" if met else "**missed**"
    return text + (" · **stale**" if stale and not problems and met is not None else "")


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


# --- reading the results ----------------------------------------------------------------------
class Results:
    """results.json, with each benchmark's outcome and provenance.

    `check` says whether a benchmark's figures still describe its code; tests hand in their own.
    """

    def __init__(self, data: dict, check: Callable[[str, str | None, list[str] | None], Staleness] = staleness) -> None:
        self.data = data
        self.benchmarks: dict[str, dict] = data.get("benchmarks", {})
        self.check = check
        self._staleness: dict[str, Staleness] = {}

    def figures(self, name: str) -> dict | None:
        entry = self.benchmarks.get(name)
        return entry.get("figures") if entry else None

    def problems(self, name: str) -> list[str]:
        """Why a benchmark's figures cannot count: it failed, or left no figures."""
        entry = self.benchmarks.get(name)
        if entry is None:
            return []
        problems = []
        if not entry.get("ok"):
            problems.append(f"`{name}` failed (exit {entry.get('exitCode', '?')})")
        if entry.get("figures") is None:
            problems.append(f"`{name}` left no figures")
        return problems

    def reused(self, name: str) -> bool:
        """Kept from an earlier run by `run_all.py --only`."""
        only = self.data.get("only")
        return bool(only) and name in self.benchmarks and name not in only

    def measured_at(self, name: str) -> str:
        entry = self.benchmarks.get(name) or {}
        return str(entry.get("measuredAt") or self.data.get("startedAt") or "?")[:10]

    def staleness(self, name: str) -> Staleness:
        if name not in self._staleness:
            entry = self.benchmarks.get(name) or {}
            self._staleness[name] = self.check(name, entry.get("commit"), entry.get("uncommitted"))
        return self._staleness[name]

    def stale(self, name: str) -> bool:
        return name in self.benchmarks and self.staleness(name).stale

    def provenance(self, name: str, *, why: bool = True) -> str:
        """When and on what commit a benchmark's figures were measured, whether reused, whether stale (and why)."""
        if name not in self.benchmarks:
            return NOT_MEASURED
        commit = (self.benchmarks[name].get("commit") or "")[:10]
        parts = [self.measured_at(name) + (f" at `{commit}`" if commit else ", commit unknown")]
        if self.reused(name):
            parts.append("reused from an earlier run")
        state = self.staleness(name)
        if state.stale:
            parts.append(f"**stale**: {state.reason}" if why else "**stale**")
        return ", ".join(parts)

    def provenance_line(self, name: str) -> str:
        problems = self.problems(name)
        line = f"_`{name}`: measured {self.provenance(name)}._"
        return line + (f" **Failed**: {'; '.join(problems)}; the figures below are partial." if problems else "")

    def live_runs(self) -> dict[tuple[str, int], dict]:
        live = self.figures("live_class") or {}
        return {(r["target"], r["students"]): r for r in live.get("runs", [])}

    def live_sizes(self) -> list[int]:
        return sorted({size for _, size in self.live_runs()})
