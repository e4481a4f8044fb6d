"""Runs every benchmark in bench/ once, with fixed seeds and bounded durations, writes
their final JSON lines to bench/results.json, then docs/BENCHMARKS.md and its plots.

`make bench` calls this. It starts the bench profile's stack when it is not running
(`python -m devstack start --profile bench`: ports, database and Redis db of its own, so
the dev stack is never restarted or written to), runs each benchmark as its own process (so one failing does not stop the
rest) one after the other (each has the machine to itself), streams their output with the
benchmark's name in front so progress shows as it goes, records each one's figures,
duration and exit code, and finally calls bench/report.py.

    .venv/bin/python bench/run_all.py                    # everything (about 12 minutes on 2 cores)
    .venv/bin/python bench/run_all.py --only api,stores  # some; the others keep their last figures

Every benchmark's entry records the commit checked out when it ran, the time it started and
any uncommitted change to its own code, so figures kept from an earlier run (`--only`) say
when and on what they were measured, and the report can tell when a benchmark's code has
changed since. The bench stack is started only when a chosen benchmark needs it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from provenance import code_of, head_commit, uncommitted
from report import embed_profiles

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
PROFILES = "bench/out/profiles"

# name, arguments, time limit (s), whether it needs the bench stack: short, bounded runs so the
# whole set stays under half an hour on 2 cores.
BENCHMARKS: list[tuple[str, list[str], int, bool]] = [
    ("stores", [], 120, True),
    ("api", ["--seconds", "8", "--warmup", "2", "--py-spy-dir", PROFILES], 180, True),
    ("flush", ["--rounds", "2"], 120, False),
    # Most of analytics' time is loading its 8 million rows, which a slower machine has taken
    # over four minutes to do: the bound stops a hung run, not a slow load.
    ("analytics", ["--runs", "5", "--warmup", "1"], 420, True),
    ("pubsub_broadcast", ["--sizes", "100,1000,2500,5000", "--messages", "10"], 180, False),
    ("concurrency", ["--caps", "1,4,16,32,64", "--seconds", "6", "--warmup", "2"], 300, True),
    # Three classes of each size per target, taking turns: each figure is their median, so a
    # verdict on a one-second burst does not rest on which process had the cores that second.
    ("live_class", ["--sizes", "100,1000,2500,5000", "--targets", "lectern,peer", "--repeat", "3", "--profile", "bench",
                    "--fresh-stack", "--py-spy-dir", PROFILES], 1500, True),
]


def last_json_line(text: str) -> object | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return None


def machine() -> dict[str, str]:
    """What the figures were measured on: they compare paths, not machines."""
    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    except OSError:
        pass
    memory = ""
    try:
        kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal")))
        memory = f"{kib / 2**20:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    load = os.getloadavg()
    return {"cpu": f"{os.cpu_count()} × {model}".strip(), "memory": memory, "python": platform.python_version(),
            "kernel": platform.release(), "load average at start": f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"}


def run(name: str, args: list[str], limit: int) -> tuple[int, str, float]:
    """Runs one benchmark, echoing its output line by line; (exit code, output, seconds)."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-u", str(ROOT / "bench" / f"{name}.py"), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if not line.lstrip().startswith("{"):
            print(f"    {name}: {line.rstrip()}", flush=True)
        if time.monotonic() - started > limit:
            proc.kill()
            lines.append(f"killed after {limit} s\n")
            break
    code = proc.wait()
    return code, "".join(lines), round(time.monotonic() - started, 1)


def reused(previous: dict) -> dict[str, dict]:
    """The previous run's entries, each with the time it was measured at (entries written
    before that was recorded take their run's start, and an unknown commit)."""
    kept = {}
    for name, entry in previous.get("benchmarks", {}).items():
        kept[name] = {"commit": None, "measuredAt": previous.get("startedAt"), **entry}
    return kept


def measure(name: str, args: list[str], limit: int) -> dict:
    """One benchmark's entry for results.json: how it ended, its figures, and what it ran on."""
    commit, dirty = head_commit(), uncommitted(code_of(name))
    measured_at = datetime.now(UTC).isoformat(timespec="seconds")
    code, out, elapsed = run(name, args, limit)
    figures = embed_profiles(last_json_line(out))
    ok = code == 0 and figures is not None
    return {"ok": ok, "exitCode": code, "seconds": elapsed, "args": args, "figures": figures, "commit": commit,
            "measuredAt": measured_at, **({"uncommitted": dirty} if dirty else {}),
            **({} if ok else {"error": out[-2000:]})}


def main() -> int:
    parser = argparse.ArgumentParser(description="Run every benchmark and write the report.")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--results", default=str(RESULTS), help="results file to update (default bench/results.json)")
    parser.add_argument("--report-args", default="",
                        help="extra arguments for bench/report.py, e.g. '--doc /tmp/B.md --capacity /tmp/C.md'")
    options = parser.parse_args()
    only = {n.strip() for n in options.only.split(",") if n.strip()}
    unknown = only - {b[0] for b in BENCHMARKS}
    if unknown:
        parser.error(f"no such benchmark: {', '.join(sorted(unknown))}")
    chosen = [b for b in BENCHMARKS if not only or b[0] in only]
    results_path = Path(options.results)

    if any(needs_stack for _, _, _, needs_stack in chosen):
        print("… bench stack (its own ports, database and Redis db: the dev stack is left alone)", flush=True)
        subprocess.run([sys.executable, "-m", "devstack", "start", "--profile", "bench"], cwd=ROOT, check=True)
    previous = json.loads(results_path.read_text()) if only and results_path.exists() else {}
    results: dict = {"startedAt": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
                     **({"only": [name for name, _, _, _ in chosen]} if only else {}),
                     "benchmarks": reused(previous)}
    failed = 0
    for i, (name, args, limit, _) in enumerate(chosen, 1):
        print(f"[{i}/{len(chosen)}] {name} {' '.join(args)}", flush=True)
        entry = results["benchmarks"][name] = measure(name, args, limit)
        failed += 0 if entry["ok"] else 1
        print(f"    {'✓' if entry['ok'] else '✗ FAILED'} {name} in {entry['seconds']} s (exit {entry['exitCode']})",
              flush=True)
    results["finishedAt"] = datetime.now(UTC).isoformat(timespec="seconds")
    results_path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {results_path} ({failed} failed)", flush=True)
    subprocess.run([sys.executable, str(ROOT / "bench" / "report.py"), "--results", str(results_path),
                    *options.report_args.split()], cwd=ROOT, check=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
