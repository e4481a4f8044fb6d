"""Writes the generated parts of docs/BENCHMARKS.md and the plots in docs/bench/ from
bench/results.json.

The document keeps two kinds of text: what people wrote (how each benchmark works, why a
figure lands where it does) and what the last run measured. The measured parts sit between
`<!-- bench:NAME -->` and `<!-- /bench:NAME -->` markers and are replaced on every run;
everything outside the markers is left exactly as written. A block whose markers are
missing is appended at the end, so a new benchmark shows up without editing the page.
A figure quoted in the prose (of this page or of docs/CAPACITY.md) sits between
`<!-- fig:KEY -->` and `<!-- /fig -->` and is rewritten from results.json the same way, so
no figure in either document is typed by hand.

Verdicts are never taken on trust: a target reads "met" only when the benchmark behind it
exited cleanly, the run it comes from had no failures (connect failures, refused votes or
chats, more than 0.1% failed requests) and the figure was measured at all. Every figure
carries the date and commit it was measured at, and is marked stale when its benchmark's
code changed after that commit (or the commit was never recorded).

    .venv/bin/python bench/report.py                 # after bench/run_all.py
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from common import MAX_FAILURE_RATE
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
                     "cachedOverNoop": ["lesson_cached", "noop"], "cachedOverUncached": ["lesson_cached", "lesson_uncached"]}
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


# --- blocks ---------------------------------------------------------------------------------
def block_machine(results: Results) -> str:
    machine = results.data.get("machine", {})
    rows = [[k, str(v)] for k, v in machine.items()]
    rows.append(["run", f"{results.data.get('startedAt', '?')} → {results.data.get('finishedAt', '?')}"])
    if results.data.get("only"):
        rows.append(["this run measured", ", ".join(f"`{n}`" for n in results.data["only"])
                     + "; the other figures are from earlier runs (dates and commits below)"])
    for name, b in results.benchmarks.items():
        outcome = "ok" if not results.problems(name) else "**failed**: " + "; ".join(results.problems(name))
        rows.append([f"`{name}`", f"{outcome} in {b.get('seconds')} s; measured {results.provenance(name)}"])
    return table(["", ""], rows)


def run_problems(run: dict | None) -> list[str]:
    """Why one live-class run's latencies cannot be trusted: it broke, or served only part of the class."""
    if run is None:
        return []
    if "error" in run:
        return [f"error: {run['error'][:80]}"]
    problems = []
    for key, what in (("connectFailures", "connect failures"), ("votesRefused", "votes refused"),
                      ("chatRefused", "chats refused")):
        value = run.get(key)
        if value is None:
            problems.append(f"{what} {NOT_MEASURED}")
        elif value:
            problems.append(f"{value:,} {what}")
    if run.get("ok") is False and not problems:
        problems.append("the run reported failure")
    return problems


def live_problems(results: Results, *runs: dict | None) -> list[str]:
    found = results.problems("live_class")
    for run in runs:
        found += [f"{run['target']} {run['students']:,}: {p}" for p in run_problems(run)] if run else []
    return found


def live_target_rows(results: Results) -> list[list[Any]]:
    runs = results.live_runs()
    stale = results.stale("live_class")
    rows: list[list[Any]] = []
    for size, limit in LIVE_P99_LIMITS.items():
        run = runs.get(("lectern", size))
        value = run.get("pollOpenedP99Ms") if run else None
        rows.append([f"`poll.opened` p99 at {size:,} students", f"< {limit:.0f} ms",
                     NOT_MEASURED if value is None else f"{fmt(value)} ms",
                     verdict(None if value is None else value < limit, live_problems(results, run), stale)])
    lectern_runs = [r for (t, _), r in sorted(runs.items(), key=lambda item: item[0][1]) if t == "lectern"]
    if lectern_runs:
        problems = live_problems(results, *lectern_runs)
        unmeasured = [r["students"] for r in lectern_runs if r.get("messagesLost") is None]
        lost = sum(r["messagesLost"] for r in lectern_runs if r.get("messagesLost") is not None)
        shown = fmt(lost) + (f"; {NOT_MEASURED} at " + ", ".join(f"{n:,}" for n in unmeasured) if unmeasured else "")
        rows.append(["messages lost, every class size", "0", shown,
                     verdict(None if unmeasured else lost == 0, problems, stale)])
        counted = [r.get("votesCountedExactly") for r in lectern_runs]
        exact = None if any(c is None for c in counted) else all(counted)
        rows.append(["votes counted exactly, every class size", "yes",
                     NOT_MEASURED if exact is None else ("yes" if exact else "no"), verdict(exact, problems, stale)])
    lectern, peer = runs.get(("lectern", 1000)), runs.get(("peer", 1000))
    if lectern and peer:
        problems = live_problems(results, lectern, peer)
        p99 = ratio(lectern.get("pollOpenedP99Ms"), peer.get("pollOpenedP99Ms"))
        rows.append(["`poll.opened` p99, Lectern / peer, at 1,000", f"≤ {PEER_P99_RATIO_LIMIT}×",
                     NOT_MEASURED if p99 is None else f"{fmt(p99, 2)}×",
                     verdict(None if p99 is None else p99 <= PEER_P99_RATIO_LIMIT, problems, stale)])
        cpu = ratio(lectern.get("cpuUsPerDeliveredMessage"), peer.get("cpuUsPerDeliveredMessage"))
        rows.append(["server CPU per delivered message, Lectern / peer, at 1,000", f"≤ {PEER_CPU_RATIO_LIMIT}×",
                     NOT_MEASURED if cpu is None else f"{fmt(cpu, 2)}×",
                     verdict(None if cpu is None else cpu <= PEER_CPU_RATIO_LIMIT, problems, stale)])
    return [row + [results.provenance("live_class", why=False)] for row in rows]


def phase_failed(phase: dict | None) -> str | None:
    """Why an API phase's figures cannot count: no requests, or more failures than MAX_FAILURE_RATE."""
    if not phase:
        return NOT_MEASURED
    requests, errors = phase.get("requests") or 0, phase.get("errors")
    if not requests:
        return "no requests"
    if errors is None:
        return f"failures {NOT_MEASURED}"
    rate = errors / requests
    return f"{rate:.2%} of requests failed" if rate > MAX_FAILURE_RATE else None


def api_target_rows(results: Results) -> list[list[Any]]:
    api = results.figures("api") or {}
    phases = api.get("phases") or {}
    names = {
        "heartbeatOverNoop": ("heartbeat throughput / no-op", "≥ {:.0%}", "{:.0%}"),
        "heartbeatP99Ms": ("heartbeat p99", "< {:.0f} ms", "{:.1f} ms"),
        "cachedOverNoop": ("cached lesson read / no-op", "≥ {:.0%}", "{:.0%}"),
        "cachedOverUncached": ("cached / uncached lesson read", "≥ {:.0f}×", "{:.2f}×"),
    }
    rows = []
    for key, target in (api.get("targets") or {}).items():
        label, limit_fmt, value_fmt = names.get(key, (key, "{}", "{}"))
        value = target.get("value")
        problems = results.problems("api")
        for name in target.get("phases") or API_TARGET_PHASES.get(key, []):
            why = phase_failed(phases.get(name))
            if why:
                problems.append(f"`{name}`: {why}")
        rows.append([label, limit_fmt.format(target.get("target")), NOT_MEASURED if value is None else value_fmt.format(value),
                     verdict(None if value is None else bool(target.get("met")), problems, results.stale("api")),
                     results.provenance("api", why=False)])
    flush = results.figures("flush")
    if flush or "flush" in results.benchmarks:
        flush = flush or {}
        worst = flush.get("worst_per_second")
        rows.append(["flush to PostgreSQL, worst round", f"≥ {flush.get('target_per_second', 20000):,}/s",
                     NOT_MEASURED if worst is None else f"{fmt(worst)}/s",
                     verdict(None if worst is None else bool(flush.get("met")), results.problems("flush"),
                             results.stale("flush")),
                     results.provenance("flush", why=False)])
    return rows


def target_rows(results: Results) -> list[list[Any]]:
    return live_target_rows(results) + api_target_rows(results)


def block_targets(results: Results) -> str:
    return table(["target", "limit", "measured", "verdict", "measured at"], target_rows(results))


def block_provenance(results: Results) -> str:
    """Each benchmark's outcome, date, commit and staleness: for pages that quote figures without tables."""
    rows = [[f"`{name}`", "**failed**: " + "; ".join(results.problems(name)) if results.problems(name) else "ok",
             results.provenance(name)] for name in results.benchmarks]
    return table(["benchmark", "outcome", "measured"], rows)


def block_verdicts(results: Results) -> str:
    """One sentence per kind of verdict, from the same rows as the targets table."""
    rows = target_rows(results)
    groups: dict[str, list[str]] = {"met": [], "missed": [], "failed": [], NOT_MEASURED: []}
    stale = [row[0] for row in rows if "**stale**" in row[3]]
    for row in rows:
        kind = next((k for k in ("failed", NOT_MEASURED, "missed") if row[3].startswith(f"**{k}**")), "met")
        groups[kind].append(row[0])
    lines = [f"Of {len(rows)} targets in `bench/results.json`: {len(groups['met'])} met, {len(groups['missed'])} missed, "
             f"{len(groups['failed'])} failed, {len(groups[NOT_MEASURED])} not measured."]
    for kind in ("failed", "missed", NOT_MEASURED):
        if groups[kind]:
            lines.append(f"{kind.capitalize()}: " + "; ".join(groups[kind]) + ".")
    if stale:
        lines.append(f"{len(stale)} of the verdicts rest on stale figures (see \"measured at\"): re-run the benchmarks "
                     "behind them before relying on them.")
    return "\n\n".join(lines)


LIVE_FIGURES: list[tuple[str, str, int]] = [
    ("connected", "students connected", 0),
    ("connectFailures", "connect failures", 0),
    ("connectStormSeconds", "connect storm (s)", 2),
    ("negotiateP50Ms", "negotiate p50 (ms)", 1),
    ("negotiateP99Ms", "negotiate p99 (ms)", 1),
    ("pollOpenedP50Ms", "`poll.opened` p50 (ms)", 1),
    ("pollOpenedP99Ms", "`poll.opened` p99 (ms)", 1),
    ("chatP50Ms", "chat fan-out p50 (ms)", 1),
    ("chatP99Ms", "chat fan-out p99 (ms)", 1),
    ("voteAckP50Ms", "vote ack p50 (ms)", 1),
    ("voteAckP99Ms", "vote ack p99 (ms)", 1),
    ("lastVoteAckedSeconds", "last vote acked after the burst began (s)", 2),
    ("votesAcked", "votes acked", 0),
    ("closedTotal", "votes counted at close", 0),
    ("votesCountedExactly", "counted exactly (and every client's final tally right)", 0),
    ("finalTallyMaxMs", "close → final tally at the last client (ms)", 1),
    ("messagesLost", "messages lost", 0),
    ("seqGapsDuringStorm", "seq gaps while the class fills (join races, not losses)", 0),
    ("cpuMsPerConnection", "server CPU per connection, storm (ms)", 2),
    ("cpuUsPerDeliveredMessage", "server CPU per delivered message, fan-out (µs)", 1),
    ("cpuMsPerVote", "server CPU per vote (ms)", 2),
    ("redisCpuUsPerDeliveredMessage", "redis-server CPU per delivered message (µs)", 1),
    ("serverRssGrowthKiBPerConnection", "server memory per connection (KiB)", 1),
    ("serverRssPeakMiB", "server memory, peak (MiB)", 1),
]


def cell(run: dict | None, key: str, digits: int) -> str:
    if run is None:
        return "–"
    if "error" in run and key == "connected":
        return f"error: {run['error'][:80]}"
    return fmt(run.get(key), digits)


def block_live(results: Results) -> str:
    runs, sizes = results.live_runs(), results.live_sizes()
    if not runs:
        return _missing(results, "live_class")
    headers = ["figure"] + [f"{t} {s:,}" for s in sizes for t in TARGETS]
    rows = [[label] + [cell(runs.get((t, s)), key, digits) for s in sizes for t in TARGETS]
            for key, label, digits in LIVE_FIGURES]
    rows.insert(0, ["run"] + [("**failed**: " + "; ".join(run_problems(runs.get((t, s))))
                               if run_problems(runs.get((t, s))) else ("ok" if runs.get((t, s)) else "–"))
                              for s in sizes for t in TARGETS])
    processes = []
    for s in sizes:
        for t in TARGETS:
            run = runs.get((t, s)) or {}
            peak = run.get("rssPeakMiB") or {}
            cpu = run.get("cpuSeconds") or {}
            busy = {role: sum(phase.get(role, 0.0) for phase in cpu.values()) for role in peak}
            processes.append(f"{t} {s:,}: " + ", ".join(f"{role} {fmt(peak[role])} MiB / {fmt(busy[role], 2)} s CPU"
                                                        for role in peak))
    return (results.provenance_line("live_class") + "\n\n" + table(headers, rows) + "\n\nPer process (peak memory / CPU seconds over storm, fan-out and votes):\n\n"
            + "\n".join(f"- {p}" for p in processes))


RATIO_FIGURES = [
    ("connectStormSeconds", "connect storm"),
    ("pollOpenedP50Ms", "`poll.opened` p50"),
    ("pollOpenedP99Ms", "`poll.opened` p99"),
    ("chatP99Ms", "chat fan-out p99"),
    ("voteAckP99Ms", "vote ack p99"),
    ("cpuMsPerConnection", "server CPU per connection"),
    ("cpuUsPerDeliveredMessage", "server CPU per delivered message"),
    ("cpuMsPerVote", "server CPU per vote"),
    ("serverRssGrowthKiBPerConnection", "server memory per connection"),
]


def block_live_ratios(results: Results) -> str:
    runs, sizes = results.live_runs(), results.live_sizes()
    rows = []
    for key, label in RATIO_FIGURES:
        row: list[Any] = [label]
        for s in sizes:
            lectern, peer = runs.get(("lectern", s)) or {}, runs.get(("peer", s)) or {}
            value = ratio(lectern.get(key), peer.get(key))
            row.append("–" if value is None else f"{value:.2f}×")
        rows.append(row)
    return table(["Lectern / peer"] + [f"{s:,}" for s in sizes], rows)


# (figure, expected shape, "linear" = grows with class size, "constant" = the same per unit)
GROWTH_FIGURES = [
    ("connectStormSeconds", "connect storm", "linear"),
    ("pollOpenedP99Ms", "`poll.opened` p99", "linear"),
    ("chatP99Ms", "chat fan-out p99", "linear"),
    ("voteAckP99Ms", "vote ack p99", "constant"),
    ("cpuMsPerConnection", "CPU per connection", "constant"),
    ("cpuUsPerDeliveredMessage", "CPU per delivered message", "constant"),
    ("cpuMsPerVote", "CPU per vote", "constant"),
    ("serverRssGrowthKiBPerConnection", "memory per connection", "constant"),
]


def block_growth(results: Results) -> str:
    runs, sizes = results.live_runs(), results.live_sizes()
    if len(sizes) < 2:
        return "_Needs at least two class sizes._"
    first, last = sizes[0], sizes[-1]
    students_grew = last / first
    rows = []
    for target in TARGETS:
        for key, label, shape in GROWTH_FIGURES:
            values = [(runs.get((target, s)) or {}).get(key) for s in sizes]
            grew = ratio(values[-1], values[0])
            ideal = students_grew if shape == "linear" else 1.0
            rows.append([target, label, f"{shape} ({ideal:g}×)"] + [fmt(v, 2) for v in values]
                        + ["–" if grew is None else f"{grew:.1f}×",
                           "–" if grew is None else f"{grew / ideal:.2f}"])
    headers = (["target", "figure", f"ideal growth {first:,} → {last:,}"] + [f"{s:,}" for s in sizes]
               + [f"grew {first:,} → {last:,}", "grew / ideal"])
    return table(headers, rows)


def block_api(results: Results) -> str:
    api = results.figures("api")
    if not api:
        return _missing(results, "api")
    rows = []
    noop = api.get("phases", {}).get("noop") or {}
    for name, phase in api.get("phases", {}).items():
        p99_ratio = ratio(phase.get("p99Ms"), noop.get("p99Ms"))
        why = phase_failed(phase)
        requests, errors = phase.get("requests") or 0, phase.get("errors") or 0
        rate = f"{errors / requests:.2%}" if requests and phase.get("errors") is not None else NOT_MEASURED
        rows.append([f"`{name}`", phase.get("rps"), phase.get("p50Ms"), phase.get("p99Ms"),
                     "–" if phase.get("ratioToNoop") is None else f"{phase['ratioToNoop']:.0%}",
                     "–" if p99_ratio is None else f"{p99_ratio:.1f}×",
                     phase.get("hostCpuUsPerRequest"), phase.get("errors"), rate,
                     f"**failed**: {why}" if why else "ok"])
    text = results.provenance_line("api") + "\n\n" + table(
        ["phase", "req/s", "p50 ms", "p99 ms", "throughput of no-op", "p99 × no-op", "host CPU µs/request", "failed requests",
         "failure rate", f"phase (fails above {MAX_FAILURE_RATE:.1%})"], rows)
    text += "\n\nLatencies are of served requests only; failed requests are counted apart."
    if api.get("cachedOverUncached") is not None:
        text += f"\n\ncached / uncached lesson read: **{api['cachedOverUncached']:.2f}×**"
    return text


def block_flush(results: Results) -> str:
    flush = results.figures("flush")
    if not flush:
        return _missing(results, "flush")
    rows = [[r["round"], r["kind"], r["snapshots"], r["batches"], r["seconds"], r["per_second"]] for r in flush["rounds"]]
    return (results.provenance_line("flush") + "\n\n" + table(["round", "kind", "snapshots", "batches", "seconds", "snapshots/s"], rows)
            + f"\n\n{flush['students']:,} students × {flush['lessons']} lessons, batches of {flush['batch']:,}.")


def block_analytics(results: Results) -> str:
    figures = results.figures("analytics")
    if not figures:
        return _missing(results, "analytics")
    p50, low = figures.get("p50_ms", {}), figures.get("min_ms", {})
    rows = [[f"`{k}`", p50.get(k), low.get(k)] for k in p50]
    return (results.provenance_line("analytics") + "\n\n" + table(["query", "p50 ms", "min ms"], rows)
            + f"\n\n{figures['students']:,} students × {figures['lessons']} lessons; rows: "
            + ", ".join(f"{k} {v:,}" for k, v in figures.get("rows", {}).items()) + f"; {figures['runs']} runs.")


def block_pubsub(results: Results) -> str:
    figures = results.figures("pubsub_broadcast")
    if not figures:
        return _missing(results, "pubsub_broadcast")
    rows = []
    for r in figures["rounds"]:
        expected = r["members"] * r.get("messages", 0) or r["deliveries_expected"]
        short = r["deliveries"] < expected or r.get("problems")
        rows.append([r["members"], r["connections_held"], r["connect_seconds"], r["rss_per_connection_kib"],
                     f"{r['deliveries']:,} / {expected:,}" + (" **short**" if r["deliveries"] < expected else ""),
                     r["latency_p50_ms"], r["latency_p99_ms"], r["health_during_broadcasts_max_ms"],
                     "**failed**: " + "; ".join(r.get("problems") or ["deliveries short"]) if short else "ok"])
    return results.provenance_line("pubsub_broadcast") + "\n\n" + table(
        ["members", "held", "connect s", "KiB/connection", "delivered", "p50 ms", "p99 ms", "health max ms", "round"], rows)


def _missing(results: Results, name: str) -> str:
    """A benchmark without figures: failed (and when), or never run."""
    return results.provenance_line(name) if name in results.benchmarks else "_Not measured in this run._"


def block_stores(results: Results) -> str:
    figures = results.figures("stores")
    if not figures:
        return _missing(results, "stores")
    parts = [results.provenance_line("stores")]
    redis = figures.get("redis") or {}
    rows = []
    for mode in ("unpipelined", "pipelined"):
        run = redis.get(mode) or {}
        for command, values in (run.get("commands") or {}).items():
            rows.append([f"{mode} (pipeline {run.get('pipeline')})", f"`{command}`", values.get("rps"),
                         values.get("p50Ms"), values.get("p99Ms")])
    if rows:
        parts.append(f"Redis (`redis-benchmark`, {redis.get('clients')} clients, {fmt(redis.get('requests'))} requests "
                     "per command):\n\n" + table(["mode", "command", "req/s", "p50 ms", "p99 ms"], rows))
    postgres = figures.get("postgres") or {}
    rows = [[f"`{script}`", values.get("tps"), values.get("latencyAvgMs"), values.get("p50Ms"), values.get("p99Ms")]
            for script, values in postgres.items() if isinstance(values, dict)]
    if rows:
        parts.append(f"PostgreSQL (`pgbench`, scale {postgres.get('scale')}, {postgres.get('clients')} clients, "
                     f"{postgres.get('seconds')} s each):\n\n" + table(["script", "tps", "avg ms", "p50 ms", "p99 ms"], rows))
    return "\n\n".join(parts) or "_Not measured in this run._"


# --- profiles -------------------------------------------------------------------------------
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
PACKAGES = ("shared_code", "functions", "devhost", "localpubsub", "bench", "azure", "aiohttp", "redis", "psycopg",
            "psycopg_pool", "socketio", "engineio", "jwt", "pydantic", "pydantic_core", "multidict", "yarl",
            "opentelemetry", "asyncio", "json", "logging", "ssl", "selectors", "concurrent", "email", "http", "urllib")


def package_of(path: str) -> str:
    parts = Path(path).parts
    for i, part in enumerate(parts):
        if part == "site-packages" and i + 1 < len(parts):
            return parts[i + 1].removesuffix(".py")
    for part in parts:
        if part in PACKAGES:
            return part
    name = Path(path).stem
    return name if name in PACKAGES else ("stdlib" if "python3" in path or path.startswith("<") else name)


# Code whose inclusive time says what a server spent its time on (rather than which
# event-loop internals it ended in): ours, and the peer's server and its Socket.IO library.
OWN_CODE = ("shared_code", "functions", "devhost", "localpubsub", "peer/server.py", "socketio", "engineio")


def summarize_profile(path: Path, top: int = 10) -> dict | None:
    """From a py-spy raw (collapsed) recording: self time by package, and inclusive time of
    the functions in OWN_CODE (each counted once per stack), as shares of all samples."""
    try:
        text = path.read_text()
    except OSError:
        return None
    by_package: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        leaf = FRAME.match(frames[-1])
        by_package[package_of(leaf["file"] if leaf else "")] += samples
        seen: set[str] = set()
        for frame in frames:
            match = FRAME.match(frame)
            if not match or not any(own in match["file"] for own in OWN_CODE):
                continue
            name = f"{match['func']} ({'/'.join(Path(match['file']).parts[-2:])})"
            if name not in seen and not match["func"].startswith("<module>") and match["func"] != "main":
                seen.add(name)
                inclusive[name] += samples
    if not total:
        return None
    return {"samples": total,
            "packages": [(name, n / total) for name, n in by_package.most_common(top)],
            "functions": [(name, n / total) for name, n in inclusive.most_common(top)]}


def profile_summary(entry: Any) -> dict | None:
    """A recording's summary: kept in results.json by run_all, or read from the file."""
    if isinstance(entry, dict):
        return entry.get("summary")
    path = Path(str(entry))
    return summarize_profile(path if path.is_absolute() else ROOT / path, top=10)


def embed_profiles(figures: Any) -> Any:
    """Replaces every recording's path in a benchmark's figures by {file, summary}, so the
    report can be rewritten later from results.json alone (bench/out is not kept)."""
    if isinstance(figures, dict):
        out = {}
        for key, value in figures.items():
            if key == "profiles" and isinstance(value, dict):
                out[key] = {name: {"file": str(entry), "summary": profile_summary(entry)} if isinstance(entry, str)
                            else entry for name, entry in value.items()}
            else:
                out[key] = embed_profiles(value)
        return out
    if isinstance(figures, list):
        return [embed_profiles(item) for item in figures]
    return figures


def profile_section(title: str, entry: Any) -> str | None:
    summary = profile_summary(entry)
    if summary is None:
        return None
    packages = ", ".join(f"{name} {share:.0%}" for name, share in summary["packages"])
    functions = table(["function (inclusive time)", "share"],
                      [[f"`{name}`", f"{share:.1%}"] for name, share in summary["functions"]])
    return (f"**{title}** ({summary['samples']:,} samples at 100 Hz). Self time by package: {packages}.\n\n"
            f"{functions}")


# API phases whose targets can be missed, and the no-op they are compared with.
API_PROFILED = {"noop": None, "heartbeat": ("heartbeatOverNoop", "heartbeatP99Ms"),
                "lesson_cached": ("cachedOverNoop", "cachedOverUncached")}


def block_profiles(results: Results) -> str:
    """The API phases with a missed target (next to the no-op), then the live runs at target sizes."""
    parts = []
    api = results.figures("api") or {}
    targets = api.get("targets") or {}
    missed = {phase for phase, keys in API_PROFILED.items()
              if keys and any(not (targets.get(k) or {}).get("met", True) for k in keys)}
    for phase, file in (api.get("profiles") or {}).items():
        if phase in missed or (phase == "noop" and missed):
            section = profile_section(f"API `{phase}` phase, host", file)
            if section:
                parts.append(section)
    runs = results.live_runs()
    for (target, size), run in sorted(runs.items(), key=lambda item: (item[0][1], item[0][0])):
        if size not in LIVE_P99_LIMITS:
            continue
        for role, file in (run.get("profiles") or {}).items():
            if role == "peer1":
                continue  # the peer's two processes do the same work
            section = profile_section(f"{target} {size:,}, {role}", file)
            if section:
                parts.append(section)
    return "\n\n".join(parts) or "_No profiles were recorded in this run._"


# --- plots ----------------------------------------------------------------------------------
def plot_live(results: Results) -> list[str]:
    """Latency and cost against class size, Lectern and the peer on the same axes."""
    try:
        import matplotlib
    except ImportError:  # installed by `make bench` (bench/requirements.txt), not with the app
        print("matplotlib is not installed: the plots in docs/bench/ were not redrawn")
        return []

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    runs, sizes = results.live_runs(), results.live_sizes()
    if not sizes:
        return []
    PLOTS.mkdir(parents=True, exist_ok=True)
    written = []
    panels = [
        ("live-latency.png", "Delivery latency against class size", [
            ("pollOpenedP99Ms", "poll.opened p99 (ms)"), ("pollOpenedP50Ms", "poll.opened p50 (ms)"),
            ("chatP99Ms", "chat fan-out p99 (ms)"), ("voteAckP99Ms", "vote ack p99 (ms)")]),
        ("live-cost.png", "Server cost against class size", [
            ("connectStormSeconds", "connect storm (s)"), ("cpuUsPerDeliveredMessage", "CPU per delivered message (µs)"),
            ("cpuMsPerVote", "CPU per vote (ms)"), ("serverRssPeakMiB", "server memory, peak (MiB)")]),
    ]
    styles = {"lectern": {"color": "#1f77b4", "marker": "o"}, "peer": {"color": "#d62728", "marker": "s"}}
    for filename, title, figures in panels:
        fig, axes = plt.subplots(2, 2, figsize=(10, 7))
        for ax, (key, label) in zip(axes.flat, figures):
            for target in TARGETS:
                points = [(s, (runs.get((target, s)) or {}).get(key)) for s in sizes]
                points = [(s, v) for s, v in points if isinstance(v, (int, float))]
                if points:
                    ax.plot(*zip(*points), label=target, **styles[target])
            if key == "pollOpenedP99Ms":
                limits = [(s, v) for s, v in LIVE_P99_LIMITS.items() if s in sizes]
                if limits:
                    ax.scatter(*zip(*limits), marker="_", s=400, color="black", label="target")
            ax.set_xscale("log")
            ax.set_yscale("log")
            plain = FuncFormatter(lambda value, _: f"{value:g}")
            ax.yaxis.set_major_formatter(plain)
            low, high = ax.get_ylim()
            if low > 0 and high / low < 20:  # within about a decade the minor ticks need labels
                ax.yaxis.set_minor_formatter(plain)
                ax.tick_params(axis="y", which="minor", labelsize=7)
            else:
                ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_xticks(sizes, [f"{s:,}" for s in sizes])
            ax.set_xlabel("students in the class")
            ax.set_title(label, fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(PLOTS / filename, dpi=90)
        plt.close(fig)
        written.append(filename)
    return written


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


# --- the document -----------------------------------------------------------------------------
BLOCKS: dict[str, Callable[[Results], str]] = {
    "machine": block_machine,
    "targets": block_targets,
    "verdicts": block_verdicts,
    "live": block_live,
    "live-ratios": block_live_ratios,
    "live-growth": block_growth,
    "profiles": block_profiles,
    "api": block_api,
    "stores": block_stores,
    "flush": block_flush,
    "analytics": block_analytics,
    "pubsub": block_pubsub,
}


def splice(doc: str, name: str, content: str) -> str:
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    replacement = f"{begin}\n{content.strip()}\n{end}"
    if pattern.search(doc):
        return pattern.sub(lambda _: replacement, doc, count=1)
    return doc.rstrip() + f"\n\n## {name}\n\n{replacement}\n"


def render(results: Results, doc: str) -> str:
    """docs/BENCHMARKS.md: every block, then every figure quoted in the prose."""
    for name, build in BLOCKS.items():
        doc = splice(doc, name, build(results))
    return fill_figures(results, doc)


def render_capacity(results: Results, doc: str) -> str:
    """docs/CAPACITY.md: where its figures come from, and the figures (the plan around them is written by hand)."""
    return fill_figures(results, splice(doc, "provenance", block_provenance(results)))


def main() -> int:
    parser = argparse.ArgumentParser(description="Write docs/BENCHMARKS.md's measured parts and plots.")
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--doc", default=str(DOC))
    parser.add_argument("--capacity", default=str(CAPACITY))
    args = parser.parse_args()
    results = Results(json.loads(Path(args.results).read_text()))
    written = []
    for path, build in ((Path(args.doc), render), (Path(args.capacity), render_capacity)):
        doc = path.read_text() if path.exists() else "# Benchmarks\n"
        unknown = unknown_figures(results, doc)
        if unknown:
            print(f"{path}: figures not in the results: {', '.join(sorted(set(unknown)))}")
        path.write_text(build(results, doc))
        written.append(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path))
    plots = plot_live(results)
    print(f"wrote {', '.join(written)}" + (f" and {', '.join('docs/bench/' + p for p in plots)}" if plots else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
