"""Figures quoted in the prose: `<!-- fig:KEY -->...<!-- /fig -->` markers rewritten from
bench/results.json, so no figure in the documents is typed by hand.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from report_format import NOT_MEASURED, Results, fmt, ratio

# --- figures in the prose -------------------------------------------------------------------
# `<!-- fig:KEY=SPEC -->text<!-- /fig -->`: SPEC is a format spec (`,.0f`). Keys are dotted
# names and a figure never spans lines, so prose that mentions the marker itself cannot
# swallow the text up to the next figure; no `|`, which would split a table cell.
FIGURE = re.compile(r"<!-- fig:(?P<key>[\w.]+)(?:=(?P<spec>[^ ]*))? -->(?P<text>[^\n]*?)<!-- /fig -->")


def live_ratio_range(key: str) -> Callable[[Results], list[float | None]]:
    """Lectern / peer for one live figure, at every class size."""
    def values(results: Results) -> list[float | None]:
        runs = results.live_runs()
        return [ratio((runs.get(("lectern", s)) or {}).get(key), (runs.get(("peer", s)) or {}).get(key))
                for s in results.live_sizes()]
    return values


def live_over_sizes(target: str, key: str, sizes: tuple[int, ...] | None = None) -> Callable[[Results], list[Any]]:
    def values(results: Results) -> list[Any]:
        runs = results.live_runs()
        return [(runs.get((target, s)) or {}).get(key) for s in (sizes or results.live_sizes())]
    return values


def votes_per_second(target: str, size: int) -> Callable[[Results], float | None]:
    """Votes acknowledged per second of the burst: all of them over the time the last one took."""
    def value(results: Results) -> float | None:
        run = results.live_runs().get((target, size)) or {}
        return ratio(run.get("votesAcked"), run.get("lastVoteAckedSeconds"))
    return value


def lowest(values: Callable[[Results], list[Any]]) -> Callable[[Results], Any]:
    return lambda results: min((v for v in values(results) if v is not None), default=None)


def highest(values: Callable[[Results], list[Any]]) -> Callable[[Results], Any]:
    return lambda results: max((v for v in values(results) if v is not None), default=None)


# Figures the prose quotes that are not a single value in results.json; single values are
# named by their path (`api.phases.heartbeat.rps`, `live.lectern.1000.pollOpenedP99Ms`).
DERIVED: dict[str, Callable[[Results], Any]] = {
    "live.connectionCpuRatio.min": lowest(live_ratio_range("cpuMsPerConnection")),
    "live.connectionCpuRatio.max": highest(live_ratio_range("cpuMsPerConnection")),
    "live.voteCpuRatio.min": lowest(live_ratio_range("cpuMsPerVote")),
    "live.voteCpuRatio.max": highest(live_ratio_range("cpuMsPerVote")),
    "live.appConnectionCpuRatio.min": lowest(live_ratio_range("appCpuMsPerConnection")),
    "live.appConnectionCpuRatio.max": highest(live_ratio_range("appCpuMsPerConnection")),
    "live.appVoteCpuRatio.min": lowest(live_ratio_range("appCpuMsPerVote")),
    "live.appVoteCpuRatio.max": highest(live_ratio_range("appCpuMsPerVote")),
    "live.memoryRatio.min": lowest(live_ratio_range("serverRssGrowthKiBPerConnection")),
    "live.memoryRatio.max": highest(live_ratio_range("serverRssGrowthKiBPerConnection")),
    "live.p99Ratio100": lambda r: ratio((r.live_runs().get(("lectern", 100)) or {}).get("pollOpenedP99Ms"),
                                        (r.live_runs().get(("peer", 100)) or {}).get("pollOpenedP99Ms")),
    "live.lecternVotesPerSecond5000": votes_per_second("lectern", 5000),
    "live.peerVotesPerSecond5000": votes_per_second("peer", 5000),
    "live.lecternVoteCpu.min": lowest(live_over_sizes("lectern", "cpuMsPerVote", (1000, 2500, 5000))),
    "live.lecternVoteCpu.max": highest(live_over_sizes("lectern", "cpuMsPerVote", (1000, 2500, 5000))),
    "live.lecternStormGaps": lambda r: sum(run.get("seqGapsDuringStorm") or 0 for (t, _), run in r.live_runs().items()
                                           if t == "lectern") if r.live_runs() else None,
    "api.noopOverUncached": lambda r: ratio(((r.figures("api") or {}).get("phases") or {}).get("noop", {}).get("rps"),
                                            ((r.figures("api") or {}).get("phases") or {}).get("lesson_uncached", {}).get("rps")),
    "flush.best_per_second": lambda r: max((x["per_second"] for x in (r.figures("flush") or {}).get("rounds", [])), default=None),
    "pubsub.5000.p50": lambda r: next((x["latency_p50_ms"] for x in (r.figures("pubsub_broadcast") or {}).get("rounds", [])
                                       if x["members"] == 5000), None),
    "pubsub.5000.p99": lambda r: next((x["latency_p99_ms"] for x in (r.figures("pubsub_broadcast") or {}).get("rounds", [])
                                       if x["members"] == 5000), None),
    "pubsub.5000.kib": lambda r: next((x["rss_per_connection_kib"] for x in
                                       (r.figures("pubsub_broadcast") or {}).get("rounds", []) if x["members"] == 5000), None),
}


def lookup(results: Results, key: str) -> Any:
    """A figure by name: DERIVED, or a path into a benchmark's figures (`live.TARGET.SIZE.…` for live runs)."""
    if key in DERIVED:
        return DERIVED[key](results)
    head, *rest = key.split(".")
    if head == "live":
        target, size, *rest = rest
        value: Any = results.live_runs().get((target, int(size)))
    else:
        value = results.figures(head)
    for part in rest:
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def figure_text(results: Results, key: str, spec: str | None) -> str:
    value = lookup(results, key)
    if value is None:
        return NOT_MEASURED
    return format(value, spec) if spec else fmt(value)


def benchmark_of(key: str) -> str:
    head = key.split(".")[0]
    return {"live": "live_class", "pubsub": "pubsub_broadcast"}.get(head, head)


def fill_figures(results: Results, doc: str) -> str:
    """Rewrites every quoted figure; one from a failed benchmark says so where it stands (staleness
    is said once per benchmark, in the provenance block, rather than after every figure)."""
    def replace(match: re.Match) -> str:
        key, spec = match["key"], match["spec"]
        text = figure_text(results, key, spec)
        name = benchmark_of(key)
        if results.problems(name):
            text += " (failed run)"
        return f"<!-- fig:{key}{'=' + spec if spec else ''} -->{text}<!-- /fig -->"
    return FIGURE.sub(replace, doc)


def unknown_figures(results: Results, doc: str) -> list[str]:
    """Keys in the document that name nothing in results.json (a typo or a figure no longer measured)."""
    return [m["key"] for m in FIGURE.finditer(doc) if lookup(results, m["key"]) is None]
