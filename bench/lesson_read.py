"""Lesson read throughput: cached vs uncached vs the host's own no-op ceiling, in one run.

Starts two local Functions hosts on the same stack, one with the content cache on and one
with `LECTERN_CACHE_ENABLED=false`, seeds a course through the public API, then drives
each endpoint with an async load generator (N concurrent workers, fixed duration, fixed
seed) and prints requests/s, p50 and p99 per phase, then one JSON line.

    .venv/bin/python -m devstack start --profile dev      # PostgreSQL, Redis, Azurite, Web PubSub
    .venv/bin/python bench/lesson_read.py --profile dev    # starts its own two hosts

Targets: cached ≥ 5x uncached, cached ≥ 70% of the no-op throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
SEED = 20260301


@dataclass
class Phase:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def quantile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> dict:
        return {
            "rps": round(self.rps, 1),
            "p50_ms": round(self.quantile(0.50), 2),
            "p99_ms": round(self.quantile(0.99), 2),
            "requests": self.requests,
            "errors": self.errors,
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def profile_environment(profile: str) -> dict[str, str]:
    """The app settings the profile's host runs with (local settings plus the profile's addresses)."""
    sys.path.insert(0, str(ROOT))
    from devstack.stack import Stack

    return Stack(profile).env()


class Host:
    """One `python -m devhost` process with extra settings."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.port, self.log = port, log
        self.env = {**os.environ, **env}
        self.process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    async def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devhost", "--port", str(self.port), "--no-timers", "--no-queues"],
            cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
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
        raise RuntimeError(f"host on {self.port} did not start; see {self.log}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


async def call(session: aiohttp.ClientSession, method: str, url: str, token: str | None = None, body: object = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, url, json=body, headers=headers) as resp:
        data = await resp.json(content_type=None)
        if resp.status >= 300:
            raise RuntimeError(f"{method} {url} -> {resp.status}: {data}")
        return data


async def seed(base: str, *, lessons: int, students: int) -> tuple[list[str], list[str]]:
    """A published course with `lessons` lessons and `students` enrolled students; returns (lesson ids, tokens)."""
    async with aiohttp.ClientSession() as s:
        tutor = (await call(s, "POST", f"{base}/dev/token", body={"name": "bench tutor", "roles": ["tutor"]}))["token"]
        course = await call(s, "POST", f"{base}/courses", tutor, {"title": "Bench course", "description": "lesson_read"})
        ids = []
        for i in range(lessons):
            lesson = await call(s, "POST", f"{base}/courses/{course['id']}/lessons", tutor,
                                {"title": f"Lesson {i}", "kind": "video", "videoAssetId": f"bench-{i}", "durationSeconds": 300})
            ids.append(lesson["id"])
        await call(s, "PATCH", f"{base}/courses/{course['id']}", tutor, {"published": True})
        tokens = []
        for i in range(students):
            token = (await call(s, "POST", f"{base}/dev/token", body={"name": f"bench student {i}", "roles": ["student"]}))["token"]
            await call(s, "POST", f"{base}/courses/{course['id']}/enrollments", token, {})
            tokens.append(token)
    return ids, tokens


async def drive(name: str, targets: list[tuple[str, dict[str, str]]], *, workers: int, seconds: float, warmup: float, expect: int) -> Phase:
    """`workers` concurrent loops issuing GETs from `targets` (fixed seed) for `seconds`, after a warm-up."""
    rng = random.Random(SEED)
    plan = [targets[rng.randrange(len(targets))] for _ in range(10_000)]
    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0}
    connector = aiohttp.TCPConnector(limit=workers, force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        stop_at = time.perf_counter() + warmup + seconds
        measure_from = time.perf_counter() + warmup

        async def worker(offset: int) -> None:
            i = offset
            while True:
                now = time.perf_counter()
                if now >= stop_at:
                    return
                url, headers = plan[i % len(plan)]
                i += workers
                started = time.perf_counter()
                try:
                    async with session.get(url, headers=headers) as resp:
                        await resp.read()
                        ok = resp.status == expect
                except aiohttp.ClientError:
                    ok = False
                if started >= measure_from:
                    latencies.append((time.perf_counter() - started) * 1000)
                    counts["ok" if ok else "errors"] += 1

        await asyncio.gather(*(worker(n) for n in range(workers)))
    return Phase(name, counts["ok"], counts["errors"], seconds, latencies)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="dev", help="devstack profile whose services the hosts use (default dev)")
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--lessons", type=int, default=20)
    parser.add_argument("--students", type=int, default=50)
    args = parser.parse_args()

    env = profile_environment(args.profile)
    out = ROOT / "bench" / "out"
    cached = Host({**env, "LECTERN_CACHE_ENABLED": "true"}, free_port(), out / "lesson_read.cached.log")
    uncached = Host({**env, "LECTERN_CACHE_ENABLED": "false"}, free_port(), out / "lesson_read.uncached.log")
    try:
        await asyncio.gather(cached.start(), uncached.start())
        lessons, tokens = await seed(cached.base, lessons=args.lessons, students=args.students)

        def targets(base: str) -> list[tuple[str, dict[str, str]]]:
            return [(f"{base}/lessons/{lid}", {"Authorization": f"Bearer {tok}"}) for lid in lessons for tok in tokens]

        phases = []
        # One phase at a time, so each host has the machine to itself while measured.
        phases.append(await drive("noop", [(f"{cached.base}/system/noop", {})], workers=args.workers,
                                  seconds=args.seconds, warmup=args.warmup, expect=204))
        phases.append(await drive("lesson_cached", targets(cached.base), workers=args.workers,
                                  seconds=args.seconds, warmup=args.warmup, expect=200))
        phases.append(await drive("lesson_uncached", targets(uncached.base), workers=args.workers,
                                  seconds=args.seconds, warmup=args.warmup, expect=200))
    finally:
        cached.stop()
        uncached.stop()

    by_name = {p.name: p for p in phases}
    print(f"{'phase':<16} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for p in phases:
        s = p.summary()
        print(f"{p.name:<16} {s['rps']:>9.1f} {s['p50_ms']:>8.2f} {s['p99_ms']:>8.2f} {s['errors']:>7}")
    speedup = by_name["lesson_cached"].rps / max(by_name["lesson_uncached"].rps, 1e-9)
    of_noop = by_name["lesson_cached"].rps / max(by_name["noop"].rps, 1e-9)
    print(f"cached / uncached = {speedup:.2f}x (target >= 5x); cached / noop = {of_noop:.0%} (target >= 70%)")
    result = {
        "bench": "lesson_read",
        "workers": args.workers,
        "seconds": args.seconds,
        "seed": SEED,
        **{p.name: p.summary() for p in phases},
        "cached_over_uncached": round(speedup, 2),
        "cached_over_noop": round(of_noop, 3),
        "targets_met": speedup >= 5 and of_noop >= 0.7,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
