"""Writes the generated parts of docs/BENCHMARKS.md and the plots in docs/bench/ from
bench/results.json.

The document keeps two kinds of text: what people wrote (how each benchmark works, why a
figure lands where it does) and what the last run measured. The measured parts sit between
`<!-- bench:NAME -->` and `<!-- /bench:NAME -->` markers and are replaced on every run;
everything outside the markers is left exactly as written. A block whose markers are
missing is appended at the end, so a new benchmark shows up without editing the page.

    .venv/bin/python bench/report.py                 # after bench/run_all.py
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
DOC = ROOT / "docs" / "BENCHMARKS.md"
PLOTS = ROOT / "docs" / "bench"

TARGETS = ("lectern", "peer")
# Live-class targets from the benchmark issue: (figure, class size, limit).
LIVE_P99_LIMITS = {1000: 150.0, 5000: 500.0}
PEER_P99_RATIO_LIMIT = 1.5
PEER_CPU_RATIO_LIMIT = 2.0


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


def verdict(met: bool | None) -> str:
    return "–" if met is None else ("met" if met else "**missed**")


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


# --- reading the results ----------------------------------------------------------------------
class Results:
    def __init__(self, data: dict) -> None:
        self.data = data
        self.benchmarks: dict[str, dict] = data.get("benchmarks", {})

    def figures(self, name: str) -> dict | None:
        entry = self.benchmarks.get(name)
        return entry.get("figures") if entry else None

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
                     + "; the other figures are from earlier runs"])
    rows += [[f"`{name}`", f"{'ok' if b.get('ok') else '**failed**'} in {b.get('seconds')} s"]
             for name, b in results.benchmarks.items()]
    return table(["", ""], rows)


def live_target_rows(results: Results) -> list[list[Any]]:
    runs = results.live_runs()
    rows: list[list[Any]] = []
    for size, limit in LIVE_P99_LIMITS.items():
        run = runs.get(("lectern", size))
        value = run.get("pollOpenedP99Ms") if run else None
        rows.append([f"`poll.opened` p99 at {size:,} students", f"< {limit:.0f} ms", f"{fmt(value)} ms",
                     verdict(None if value is None else value < limit)])
    lectern_runs = [r for (t, _), r in runs.items() if t == "lectern"]
    if lectern_runs:
        lost = sum(r.get("messagesLost") or 0 for r in lectern_runs)
        rows.append(["messages lost, every class size", "0", fmt(lost), verdict(lost == 0 and all("error" not in r for r in lectern_runs))])
        exact = all(r.get("votesCountedExactly") for r in lectern_runs)
        rows.append(["votes counted exactly, every class size", "yes", "yes" if exact else "no", verdict(exact)])
    lectern, peer = runs.get(("lectern", 1000)), runs.get(("peer", 1000))
    if lectern and peer:
        p99 = ratio(lectern.get("pollOpenedP99Ms"), peer.get("pollOpenedP99Ms"))
        rows.append(["`poll.opened` p99, Lectern / peer, at 1,000", f"≤ {PEER_P99_RATIO_LIMIT}×", f"{fmt(p99, 2)}×",
                     verdict(None if p99 is None else p99 <= PEER_P99_RATIO_LIMIT)])
        cpu = ratio(lectern.get("cpuUsPerDeliveredMessage"), peer.get("cpuUsPerDeliveredMessage"))
        rows.append(["server CPU per delivered message, Lectern / peer, at 1,000", f"≤ {PEER_CPU_RATIO_LIMIT}×",
                     f"{fmt(cpu, 2)}×", verdict(None if cpu is None else cpu <= PEER_CPU_RATIO_LIMIT)])
    return rows


def api_target_rows(results: Results) -> list[list[Any]]:
    api = results.figures("api") or {}
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
        rows.append([label, limit_fmt.format(target.get("target")), "–" if value is None else value_fmt.format(value),
                     verdict(target.get("met"))])
    flush = results.figures("flush")
    if flush:
        rows.append(["flush to PostgreSQL, worst round", f"≥ {flush.get('target_per_second', 20000):,}/s",
                     f"{fmt(flush.get('worst_per_second'))}/s", verdict(flush.get("met"))])
    return rows


def block_targets(results: Results) -> str:
    return table(["target", "limit", "measured", ""], live_target_rows(results) + api_target_rows(results))


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
    headers = ["figure"] + [f"{t} {s:,}" for s in sizes for t in TARGETS]
    rows = [[label] + [cell(runs.get((t, s)), key, digits) for s in sizes for t in TARGETS]
            for key, label, digits in LIVE_FIGURES]
    processes = []
    for s in sizes:
        for t in TARGETS:
            run = runs.get((t, s)) or {}
            peak = run.get("rssPeakMiB") or {}
            cpu = run.get("cpuSeconds") or {}
            busy = {role: sum(phase.get(role, 0.0) for phase in cpu.values()) for role in peak}
            processes.append(f"{t} {s:,}: " + ", ".join(f"{role} {fmt(peak[role])} MiB / {fmt(busy[role], 2)} s CPU"
                                                        for role in peak))
    return (table(headers, rows) + "\n\nPer process (peak memory / CPU seconds over storm, fan-out and votes):\n\n"
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
        return "_Not measured in this run._"
    rows = []
    noop = api.get("phases", {}).get("noop") or {}
    for name, phase in api.get("phases", {}).items():
        p99_ratio = ratio(phase.get("p99Ms"), noop.get("p99Ms"))
        rows.append([f"`{name}`", phase.get("rps"), phase.get("p50Ms"), phase.get("p99Ms"),
                     "–" if phase.get("ratioToNoop") is None else f"{phase['ratioToNoop']:.0%}",
                     "–" if p99_ratio is None else f"{p99_ratio:.1f}×",
                     phase.get("hostCpuUsPerRequest"), phase.get("errors")])
    text = table(["phase", "req/s", "p50 ms", "p99 ms", "throughput of no-op", "p99 × no-op", "host CPU µs/request",
                  "errors"], rows)
    if api.get("cachedOverUncached") is not None:
        text += f"\n\ncached / uncached lesson read: **{api['cachedOverUncached']:.2f}×**"
    return text


def block_flush(results: Results) -> str:
    flush = results.figures("flush")
    if not flush:
        return "_Not measured in this run._"
    rows = [[r["round"], r["kind"], r["snapshots"], r["batches"], r["seconds"], r["per_second"]] for r in flush["rounds"]]
    return (table(["round", "kind", "snapshots", "batches", "seconds", "snapshots/s"], rows)
            + f"\n\n{flush['students']:,} students × {flush['lessons']} lessons, batches of {flush['batch']:,}.")


def block_analytics(results: Results) -> str:
    figures = results.figures("analytics")
    if not figures:
        return "_Not measured in this run._"
    p50, low = figures.get("p50_ms", {}), figures.get("min_ms", {})
    rows = [[f"`{k}`", p50.get(k), low.get(k)] for k in p50]
    return (table(["query", "p50 ms", "min ms"], rows)
            + f"\n\n{figures['students']:,} students × {figures['lessons']} lessons; rows: "
            + ", ".join(f"{k} {v:,}" for k, v in figures.get("rows", {}).items()) + f"; {figures['runs']} runs.")


def block_pubsub(results: Results) -> str:
    figures = results.figures("pubsub_broadcast")
    if not figures:
        return "_Not measured in this run._"
    rows = [[r["members"], r["connections_held"], r["connect_seconds"], r["rss_per_connection_kib"],
             f"{r['deliveries']:,} / {r['deliveries_expected']:,}", r["latency_p50_ms"], r["latency_p99_ms"],
             r["health_during_broadcasts_max_ms"]] for r in figures["rounds"]]
    return table(["members", "held", "connect s", "KiB/connection", "delivered", "p50 ms", "p99 ms",
                  "health max ms"], rows)


def block_stores(results: Results) -> str:
    figures = results.figures("stores")
    if not figures:
        return "_Not measured in this run._"
    parts = []
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
    import matplotlib

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


# --- the document -----------------------------------------------------------------------------
BLOCKS: dict[str, Callable[[Results], str]] = {
    "machine": block_machine,
    "targets": block_targets,
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
    for name, build in BLOCKS.items():
        doc = splice(doc, name, build(results))
    return doc


def main() -> int:
    parser = argparse.ArgumentParser(description="Write docs/BENCHMARKS.md's measured parts and plots.")
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument("--doc", default=str(DOC))
    args = parser.parse_args()
    results = Results(json.loads(Path(args.results).read_text()))
    doc_path = Path(args.doc)
    doc = doc_path.read_text() if doc_path.exists() else "# Benchmarks\n"
    doc_path.write_text(render(results, doc))
    plots = plot_live(results)
    print(f"wrote {doc_path.relative_to(ROOT) if doc_path.is_relative_to(ROOT) else doc_path}"
          + (f" and {', '.join('docs/bench/' + p for p in plots)}" if plots else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
