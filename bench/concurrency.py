"""Per-instance HTTP concurrency: throughput and p99 of one host at each candidate cap.

On Flex Consumption the platform hands one instance at most
`functionAppConfig.scaleAndConcurrency.triggers.http.perInstanceConcurrency` requests at a
time (Python's default is 1) and scales out for the rest. This measures what one host
process does at a given cap: for each candidate N it starts a local host whose host.json
sets `extensions.http.maxConcurrentRequests` to N (a copy of the app directory with only
host.json changed), offers exactly N concurrent keep-alive clients (what the platform would
send one instance) and records requests per second and p99 for the traffic that dominates
production: heartbeats (`PUT /api/progress/lessons/{id}`) and cached lesson reads.

    .venv/bin/python -m devstack start --profile bench
    .venv/bin/python bench/concurrency.py --profile bench --caps 1,4,16,32,64

The chosen default is the smallest cap whose heartbeat throughput is within 10 % of the
best among the caps with p99 under 100 ms: past it, more concurrency adds queueing inside
the process, not throughput. Results go to bench/out/concurrency.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from api import DURATION, heartbeats, lesson_reads, warm
from common import OUT, ROOT, Host, Phase, cycling, drive, free_port, profile_environment, seed

SEED = 20261204
# What the app directory holds that a host reads; everything is linked but host.json.
APP_ENTRIES = ("function_app.py", "functions", "shared_code", "requirements.txt", "local.settings.json", "local.settings.sample.json")
WITHIN_BEST = 0.9
P99_LIMIT_MS = 100.0


def capped_app_dir(cap: int) -> Path:
    """A directory that is the app with host.json's maxConcurrentRequests set to `cap`."""
    directory = Path(tempfile.mkdtemp(prefix=f"lectern-cap{cap}-"))
    for entry in APP_ENTRIES:
        if (ROOT / entry).exists():
            os.symlink(ROOT / entry, directory / entry)
    host_json = json.loads((ROOT / "host.json").read_text())
    host_json.setdefault("extensions", {}).setdefault("http", {})["maxConcurrentRequests"] = cap
    (directory / "host.json").write_text(json.dumps(host_json, indent=2))
    return directory


class CappedHost(Host):
    """A host serving the app from a capped copy of its directory."""

    def __init__(self, env: dict[str, str], port: int, log: Path, app_dir: Path) -> None:
        super().__init__(env, port, log, timers=True)
        self.app_dir = app_dir

    async def start(self, timeout: float = 60) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devhost", "--port", str(self.port), "--no-queues", "--app-dir", str(self.app_dir)],
                cwd=ROOT, env={**self.env, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"host on {self.port} exited; see {self.log}")
                try:
                    async with session.get(f"{self.base}/system/noop") as resp:
                        if resp.status == 204:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"host on {self.port} did not start in {timeout:.0f} s; see {self.log}")


def choose(results: dict[int, dict[str, dict]]) -> int | None:
    """The smallest cap within 10% of the best heartbeat throughput among the caps whose p99
    stays under the bound: a cap past the bound is no candidate, however fast, so it cannot
    set the bar either (more concurrency bought there is queueing, not throughput)."""
    usable = {
        cap: r["heartbeat"] for cap, r in results.items()
        if not r["heartbeat"]["failed"] and r["heartbeat"]["p99Ms"] is not None and r["heartbeat"]["p99Ms"] < P99_LIMIT_MS
    }
    if not usable:
        return None
    best = max(r["rps"] for r in usable.values())
    return min(cap for cap, r in usable.items() if r["rps"] >= WITHIN_BEST * best)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="bench", help="devstack profile whose services the hosts use (default bench)")
    parser.add_argument("--caps", default="1,4,16,32,64", help="comma-separated candidate perInstanceConcurrency values")
    parser.add_argument("--seconds", type=float, default=6.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each phase")
    parser.add_argument("--lessons", type=int, default=6)
    parser.add_argument("--students", type=int, default=100)
    args = parser.parse_args()
    caps = sorted({int(c) for c in args.caps.split(",") if c.strip()})

    env = {**profile_environment(args.profile), "LECTERN_RATE_HEARTBEATS_PER_MINUTE": "100000000",
           "LECTERN_RATE_READS_PER_MINUTE": "100000000", "LECTERN_RATE_READS_PER_IP_PER_MINUTE": "100000000",
           "LECTERN_RATE_WRITES_PER_IP_PER_MINUTE": "100000000"}
    rng = random.Random(SEED)
    results: dict[int, dict[str, dict]] = {}
    course = None
    print(f"{'cap':>4} {'phase':<14} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'errors':>7}")
    for cap in caps:
        app_dir = capped_app_dir(cap)
        host = CappedHost(env, free_port(), OUT / f"concurrency.cap{cap}.log", app_dir)
        try:
            await host.start()
            if course is None:
                course = await seed(host.base, lessons=args.lessons, students=args.students, duration_seconds=DURATION,
                                    title="Concurrency bench")
            await warm(host.base, course)
            phases: dict[str, Phase] = {}
            for name, plan, expect in (
                ("heartbeat", heartbeats(host.base, course, rng), 202),
                ("lesson_cached", cycling(lesson_reads(host.base, course, rng)), 200),
            ):
                phases[name] = await drive(name, plan, workers=cap, seconds=args.seconds, warmup=args.warmup,
                                           expect=expect, host_pid=host.pid)
                s = phases[name].summary()
                print(f"{cap:>4} {name:<14} {s['rps']:>9} {s['p50Ms']!s:>8} {s['p99Ms']!s:>8} {s['requests']:>9} {s['errors']:>7}", flush=True)
            results[cap] = {name: phase.summary() for name, phase in phases.items()}
        finally:
            host.stop()
            shutil.rmtree(app_dir, ignore_errors=True)

    chosen = choose(results)
    figures = {
        "benchmark": "concurrency", "seed": SEED, "seconds": args.seconds, "cores": os.cpu_count(),
        "caps": {str(cap): r for cap, r in results.items()}, "chosen": chosen,
        "rule": f"smallest cap with heartbeat req/s >= {WITHIN_BEST:.0%} of the best and p99 < {P99_LIMIT_MS:g} ms",
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "concurrency.json").write_text(json.dumps(figures, indent=2))
    print(f"chosen perInstanceConcurrency: {chosen} (smallest cap within {1 - WITHIN_BEST:.0%} of the best heartbeat throughput among caps with p99 < {P99_LIMIT_MS:g} ms)")
    # The last line is what bench/run_all.py records in results.json.
    print(json.dumps(figures))
    return 0 if chosen is not None else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
