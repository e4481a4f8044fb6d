"""When a live class counts, and how several classes of one size on one target are reported
as one.

Pure rules, no I/O: `live_class.py` runs the classes and hands their figures here.
"""

from __future__ import annotations

import statistics
from typing import Any


def run_ok(figures: dict) -> bool:
    """A run counts only when every student got in, every vote and chat was taken and nothing was lost:
    its latencies are of the deliveries that happened, so a partial class would look faster than it is."""
    return (figures.get("messagesLost") == 0 and bool(figures.get("votesCountedExactly"))
            and figures.get("connectFailures") == 0 and figures.get("votesRefused") == 0
            and figures.get("chatRefused") == 0)


def exit_status(runs: list[dict]) -> int:
    """The benchmark fails when a class of Lectern's failed. A peer class that failed (it
    lost messages in a storm, say) is a finding about the peer: the report refuses every
    comparison drawn from that class (`report_targets.run_problems`), while Lectern's own
    targets and the comparisons at the other sizes keep their verdicts. With no Lectern
    class run, the peer's classes decide."""
    judged = [r for r in runs if r.get("target") == "lectern"] or runs
    return 0 if all(r.get("ok") for r in judged) else 1


# What a class must never do in any repetition: each is the worst of the repetitions, not
# their median, so a loss or a refusal in one class is never averaged away.
WORST_OF = frozenset({"messagesLost", "lostBreakdown", "connectFailures", "votesRefused", "chatRefused",
                      "finalTallyWrongAtClients", "seqGapsDuringStorm", "seqRestartsSeen"})
FEWEST_OF = frozenset({"connected", "clientsStillConnected", "votesAcked"})


def combined(runs: list[dict]) -> dict:
    """One class size's figures for one target over its repetitions: each measured figure
    the median of them (on two shared cores a single one-second burst is decided by who had
    the cores in that second), losses and refusals the worst of them, and `ok` only when
    every repetition was; a repetition that broke makes the whole size broken."""
    if len(runs) == 1:
        return runs[0]
    broken = next((r for r in runs if "error" in r), None)
    if broken is not None:
        return {**broken, "ok": False, "repeats": len(runs)}
    merged = _merged(runs, worst=False)
    merged["ok"] = all(r["ok"] for r in runs)
    merged["repeats"] = len(runs)
    return merged


def _merged(values: list[dict], *, worst: bool) -> dict:
    out: dict[str, Any] = {}
    for key in values[0]:
        column = [v.get(key) for v in values]
        if key in FEWEST_OF:
            out[key] = min((c for c in column if isinstance(c, int)), default=None)
        else:
            out[key] = _merged_value(column, worst=worst or key in WORST_OF)
    return out


def _merged_value(column: list[Any], *, worst: bool) -> Any:
    present = [c for c in column if c is not None]
    if not present:
        return None
    first = present[0]
    if isinstance(first, bool):
        return all(present) if not worst else any(present)
    if isinstance(first, (int, float)):
        numbers = [c for c in present if isinstance(c, (int, float)) and not isinstance(c, bool)]
        return max(numbers) if worst else statistics.median_low(numbers)  # a value one class measured
    if isinstance(first, dict):
        return _merged([c for c in present if isinstance(c, dict)], worst=worst)
    return first  # names, paths: the first repetition's
