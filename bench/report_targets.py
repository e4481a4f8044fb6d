"""The report's verdict blocks: the machine, each target with its figure and limit, where
every figure comes from, and the verdicts. A target reads "met" only when its benchmark
exited cleanly, its run had no failures and the figure was measured at all.
"""

from __future__ import annotations

from typing import Any

from common import MAX_FAILURE_RATE
from report_format import (
    API_TARGET_PHASES,
    LIVE_P99_LIMITS,
    NOT_MEASURED,
    PEER_CPU_RATIO_LIMIT,
    PEER_P99_RATIO_LIMIT,
    Results,
    fmt,
    ratio,
    table,
    verdict,
)


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


# Issue 20's per-operation targets: Lectern against the peer in the same run, at one size each.
WRITE_COST_RATIOS: list[tuple[str, str, int, float, int]] = [
    # label, figure, class size, limit (Lectern / peer), digits
    ("vote ack p99, Lectern / peer, at {size:,}", "voteAckP99Ms", 1000, 1.0, 2),
    ("vote ack p99, Lectern / peer, at {size:,}", "voteAckP99Ms", 2500, 1.0, 2),
    ("vote ack p99, Lectern / peer, at {size:,}", "voteAckP99Ms", 5000, 1.0, 2),
    ("server CPU per vote, Lectern / peer, at {size:,}", "cpuMsPerVote", 5000, 1.0, 2),
    ("server CPU per connection, Lectern / peer, at {size:,}", "cpuMsPerConnection", 5000, 1.5, 2),
    ("connect storm, Lectern / peer, at {size:,}", "connectStormSeconds", 1000, 1.5, 2),
    ("connect storm, Lectern / peer, at {size:,}", "connectStormSeconds", 5000, 1.5, 2),
]
# label, figure, class size, limit (below)
WRITE_COST_LIMITS: list[tuple[str, str, int, float, str]] = [
    ("vote ack p99 at {size:,} students", "voteAckP99Ms", 5000, 500.0, "ms"),
    ("negotiate p99 at {size:,} students", "negotiateP99Ms", 1000, 200.0, "ms"),
]


def write_cost_rows(results: Results) -> list[list[Any]]:
    """The write paths' cost against the peer (a ratio of two runs of the same `make bench`),
    and the two absolute limits; a row appears once the runs it needs were made."""
    runs = results.live_runs()
    stale = results.stale("live_class")
    rows: list[list[Any]] = []
    for label, key, size, limit, digits in WRITE_COST_RATIOS:
        lectern, peer = runs.get(("lectern", size)), runs.get(("peer", size))
        if not (lectern and peer):
            continue
        value = ratio(lectern.get(key), peer.get(key))
        rows.append([label.format(size=size), f"≤ {limit}×", NOT_MEASURED if value is None else f"{fmt(value, digits)}×",
                     verdict(None if value is None else value <= limit, live_problems(results, lectern, peer), stale)])
    for label, key, size, limit, unit in WRITE_COST_LIMITS:
        run = runs.get(("lectern", size))
        if not run:
            continue
        value = run.get(key)
        rows.append([label.format(size=size), f"< {limit:.0f} {unit}", NOT_MEASURED if value is None else f"{fmt(value)} {unit}",
                     verdict(None if value is None else value < limit, live_problems(results, run), stale)])
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
        "quizSubmitRps": ("quiz submits per second, 100 at once", "≥ {:,.0f}/s", "{:,.0f}/s"),
        "quizSubmitP99Ms": ("quiz submit p99, 100 at once", "< {:.0f} ms", "{:.1f} ms"),
        "quizSubmitCpuUs": ("host CPU per quiz submit", "≤ {:,.0f} µs", "{:,.0f} µs"),
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
    return live_target_rows(results) + write_cost_rows(results) + api_target_rows(results)


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
    ("appCpuMsPerConnection", "… of which the app's processes, without the local Web PubSub service (ms)", 2),
    ("cpuUsPerDeliveredMessage", "server CPU per delivered message, fan-out (µs)", 1),
    ("cpuMsPerVote", "server CPU per vote (ms)", 2),
    ("appCpuMsPerVote", "… of which the app's processes, without the local Web PubSub service (ms)", 2),
    ("redisCpuUsPerDeliveredMessage", "redis-server CPU per delivered message (µs)", 1),
    ("serverRssGrowthKiBPerConnection", "server memory per connection (KiB)", 1),
    ("serverRssPeakMiB", "server memory, peak (MiB)", 1),
]
