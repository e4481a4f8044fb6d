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
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from report import embed_profiles

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
PROFILES = "bench/out/profiles"

# name, arguments, time limit (s): short, bounded runs so the whole set stays under 15 minutes on 2 cores.
BENCHMARKS: list[tuple[str, list[str], int]] = [
    ("stores", [], 120),
    ("api", ["--seconds", "8", "--warmup", "2", "--py-spy-dir", PROFILES], 180),
    ("flush", ["--rounds", "2"], 120),
    ("analytics", ["--runs", "5", "--warmup", "1"], 240),
    ("pubsub_broadcast", ["--sizes", "100,1000,2500,5000", "--messages", "10"], 180),
    ("live_class", ["--sizes", "100,1000,2500,5000", "--targets", "lectern,peer", "--profile", "bench",
                    "--fresh-stack", "--py-spy-dir", PROFILES], 600),
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


def main() -> int:
    parser = argparse.ArgumentParser(description="Run every benchmark and write the report.")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    options = parser.parse_args()
    only = {n.strip() for n in options.only.split(",") if n.strip()}
    chosen = [b for b in BENCHMARKS if not only or b[0] in only]

    print("… bench stack (its own ports, database and Redis db: the dev stack is left alone)", flush=True)
    subprocess.run([sys.executable, "-m", "devstack", "start", "--profile", "bench"], cwd=ROOT, check=True)
    previous = json.loads(RESULTS.read_text()) if only and RESULTS.exists() else {}
    results: dict = {"startedAt": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
                     **({"only": [name for name, _, _ in chosen]} if only else {}),
                     "benchmarks": dict(previous.get("benchmarks", {}))}
    failed = 0
    for i, (name, args, limit) in enumerate(chosen, 1):
        print(f"[{i}/{len(chosen)}] {name} {' '.join(args)}", flush=True)
        code, out, elapsed = run(name, args, limit)
        figures = embed_profiles(last_json_line(out))
        ok = code == 0 and figures is not None
        failed += 0 if ok else 1
        results["benchmarks"][name] = {"ok": ok, "exitCode": code, "seconds": elapsed, "args": args, "figures": figures,
                                       **({} if ok else {"error": out[-2000:]})}
        print(f"    {'✓' if ok else '✗'} {name} in {elapsed} s", flush=True)
    results["finishedAt"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)} ({failed} failed)", flush=True)
    subprocess.run([sys.executable, str(ROOT / "bench" / "report.py")], cwd=ROOT, check=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
