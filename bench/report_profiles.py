"""CPU profiles in the report (where the time of a phase went, by package and by our own
functions) and the plots of live-class figures in docs/bench/.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

from report_format import LIVE_P99_LIMITS, PLOTS, ROOT, TARGETS, Results, table

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
        for ax, (key, label) in zip(axes.flat, figures, strict=False):
            for target in TARGETS:
                points = [(s, (runs.get((target, s)) or {}).get(key)) for s in sizes]
                points = [(s, v) for s, v in points if isinstance(v, (int, float))]
                if points:
                    ax.plot(*zip(*points, strict=False), label=target, **styles[target])
            if key == "pollOpenedP99Ms":
                limits = [(s, v) for s, v in LIVE_P99_LIMITS.items() if s in sizes]
                if limits:
                    ax.scatter(*zip(*limits, strict=False), marker="_", s=400, color="black", label="target")
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
