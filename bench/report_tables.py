"""The report's measurement tables: live classes by size and target, their ratios and
growth, the API phases, the flush, analytics, Web PubSub and the stores.
"""

from __future__ import annotations

from typing import Any

from common import MAX_FAILURE_RATE
from report_format import NOT_MEASURED, TARGETS, Results, fmt, ratio, table
from report_targets import LIVE_FIGURES, phase_failed, run_problems


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
    return (
        results.provenance_line("live_class")
        + "\n\n"
        + table(headers, rows)
        + "\n\nPer process (peak memory / CPU seconds over storm, fan-out and votes):\n\n"
        + "\n".join(f"- {p}" for p in processes)
    )


RATIO_FIGURES = [
    ("connectStormSeconds", "connect storm"),
    ("pollOpenedP50Ms", "`poll.opened` p50"),
    ("pollOpenedP99Ms", "`poll.opened` p99"),
    ("chatP99Ms", "chat fan-out p99"),
    ("voteAckP99Ms", "vote ack p99"),
    ("cpuMsPerConnection", "server CPU per connection"),
    ("appCpuMsPerConnection", "… of which the app's processes (without the local Web PubSub service)"),
    ("cpuUsPerDeliveredMessage", "server CPU per delivered message"),
    ("cpuMsPerVote", "server CPU per vote"),
    ("appCpuMsPerVote", "… of which the app's processes (without the local Web PubSub service)"),
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
