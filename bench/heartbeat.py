"""Heartbeat throughput and p99 at saturation, against the host's own no-op ceiling, in one run.

Starts one local Functions host of its own on a profile's services (timers on, so the
write-behind flush runs during the measurement as it would in production), seeds a
published course with video lessons and enrolled students through the public API, sends
one heartbeat per (student, lesson) so every snapshot and cache entry is warm, then drives
two phases with the same async load generator (N concurrent keep-alive workers, fixed
duration, fixed seed):

- `noop`: `GET /api/system/noop`, the host's ceiling;
- `heartbeat`: `PUT /api/progress/lessons/{id}` as enrolled students, each (student,
  lesson) pair advancing five seconds per beat, as a player would.

    .venv/bin/python -m devstack start --profile dev --only postgres,redis,azurite,pubsub
    .venv/bin/python bench/heartbeat.py --profile dev

Target: heartbeat >= 50% of the no-op throughput, with p99 < 50 ms.
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
SEED = 20260303


@dataclass
class Phase:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    host_cpu_seconds: float | None = None

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    def summary(self) -> dict:
        return {
            "rps": round(self.requests / self.seconds, 1),
            "p50_ms": round(self.quantile(0.50), 2),
            "p99_ms": round(self.quantile(0.99), 2),
            "requests": self.requests,
            "errors": self.errors,
            "host_cpu_us_per_request": (
                round(self.host_cpu_seconds * 1e6 / self.requests, 1) if self.host_cpu_seconds and self.requests else None
            ),
        }


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError, TypeError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def profile_environment(profile: str) -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    from devstack.stack import Stack

    return Stack(profile).env()


class Host:
    """One `python -m devhost` process (timers on, queue triggers off)."""

    def __init__(self, env: dict[str, str], port: int, log: Path, *, timers: bool = True) -> None:
        self.port, self.log, self.timers = port, log, timers
        self.env = {**os.environ, **env}
        self.process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    async def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devhost", "--port", str(self.port), "--no-queues", *([] if self.timers else ["--no-timers"])],
            cwd=ROOT, env=self.env, stdout=self.log.open("w"), stderr=subprocess.STDOUT,
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
    """A published course with `lessons` one-hour videos and `students` enrolled students."""
    async with aiohttp.ClientSession() as s:
        tutor = (await call(s, "POST", f"{base}/dev/token", body={"name": "bench tutor", "roles": ["tutor"]}))["token"]
        course = await call(s, "POST", f"{base}/courses", tutor, {"title": "Heartbeat bench", "description": "heartbeats"})
        ids = []
        for i in range(lessons):
            lesson = await call(s, "POST", f"{base}/courses/{course['id']}/lessons", tutor,
                                {"title": f"Video {i}", "kind": "video", "videoAssetId": f"hb-{i}", "durationSeconds": 3600})
            ids.append(lesson["id"])
        await call(s, "PATCH", f"{base}/courses/{course['id']}", tutor, {"published": True})
        gate = asyncio.Semaphore(16)

        async def student(i: int) -> str:
            async with gate:
                token = (await call(s, "POST", f"{base}/dev/token", body={"name": f"hb student {i}", "roles": ["student"]}))["token"]
                await call(s, "POST", f"{base}/courses/{course['id']}/enrollments", token, {})
                return token

        tokens = list(await asyncio.gather(*(student(i) for i in range(students))))
    return ids, tokens


async def drive(
    name: str,
    requests: list[tuple[str, str, dict[str, str], bool]],
    *,
    workers: int,
    seconds: float,
    warmup: float,
    expect: int,
    host_pid: int | None = None,
) -> Phase:
    """`workers` concurrent loops issuing the planned requests for `seconds`, after a warm-up.

    A planned request is (method, url, headers, is_heartbeat); heartbeats carry a body whose
    watched time advances five seconds per beat of the same (student, lesson).
    """
    watched: dict[str, float] = {}
    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0}
    connector = aiohttp.TCPConnector(limit=workers)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        stop_at = time.perf_counter() + warmup + seconds
        measure_from = time.perf_counter() + warmup
        cpu: dict[str, float | None] = {}

        async def sample_cpu() -> None:
            await asyncio.sleep(warmup)
            cpu["from"] = cpu_seconds(host_pid)
            await asyncio.sleep(seconds)
            cpu["to"] = cpu_seconds(host_pid)

        async def worker(offset: int) -> None:
            i = offset
            while time.perf_counter() < stop_at:
                method, url, headers, is_beat = requests[i % len(requests)]
                i += workers
                body = None
                if is_beat:
                    key = url + headers["Authorization"]
                    w = watched[key] = watched.get(key, 5.0) + 5.0
                    body = {"positionSeconds": w, "watchedSeconds": w, "durationSeconds": 3600}
                started = time.perf_counter()
                try:
                    async with session.request(method, url, json=body, headers=headers) as resp:
                        await resp.read()
                        ok = resp.status == expect
                except aiohttp.ClientError:
                    ok = False
                if started >= measure_from:
                    latencies.append((time.perf_counter() - started) * 1000)
                    counts["ok" if ok else "errors"] += 1

        await asyncio.gather(sample_cpu(), *(worker(n) for n in range(workers)))
    used = cpu["to"] - cpu["from"] if cpu.get("from") is not None and cpu.get("to") is not None else None
    return Phase(name, counts["ok"], counts["errors"], seconds, latencies, used)


async def warm(base: str, lessons: list[str], tokens: list[str]) -> None:
    """One heartbeat per pair: snapshots, lesson mappings and memberships are all cached after it."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as s:
        gate = asyncio.Semaphore(32)

        async def one(lesson: str, token: str) -> None:
            async with gate:
                async with s.put(f"{base}/progress/lessons/{lesson}", headers={"Authorization": f"Bearer {token}"},
                                 json={"positionSeconds": 5, "watchedSeconds": 5, "durationSeconds": 3600}) as resp:
                    if resp.status != 202:
                        raise RuntimeError(f"warm-up heartbeat answered {resp.status}: {await resp.text()}")

        await asyncio.gather(*(one(lesson, t) for lesson in lessons for t in tokens))


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="dev", help="devstack profile whose services the host uses (default dev)")
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--lessons", type=int, default=20)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--no-flush", action="store_true", help="run the host without its timers (no write-behind flush)")
    args = parser.parse_args()

    host = Host(profile_environment(args.profile), free_port(), ROOT / "bench" / "out" / "heartbeat.host.log",
                timers=not args.no_flush)
    try:
        await host.start()
        lessons, tokens = await seed(host.base, lessons=args.lessons, students=args.students)
        await warm(host.base, lessons, tokens)
        rng = random.Random(SEED)
        pairs = [(lesson, token) for lesson in lessons for token in tokens]
        beats = [
            ("PUT", f"{host.base}/progress/lessons/{lesson}", {"Authorization": f"Bearer {token}"}, True)
            for lesson, token in (pairs[rng.randrange(len(pairs))] for _ in range(20_000))
        ]
        noop = [("GET", f"{host.base}/system/noop", {}, False)]
        phases = [
            await drive("noop", noop, workers=args.workers, seconds=args.seconds, warmup=args.warmup, expect=204,
                        host_pid=host.pid),
            await drive("heartbeat", beats, workers=args.workers, seconds=args.seconds, warmup=args.warmup, expect=202,
                        host_pid=host.pid),
        ]
    finally:
        host.stop()
    summary = {p.name: p.summary() for p in phases}
    for name, s in summary.items():
        print(f"{name:10s} {s['rps']:>9,.1f} req/s  p50 {s['p50_ms']:6.2f} ms  p99 {s['p99_ms']:6.2f} ms  "
              f"errors {s['errors']}  host CPU/request {s['host_cpu_us_per_request']} µs")
    ratio = summary["heartbeat"]["rps"] / summary["noop"]["rps"] if summary["noop"]["rps"] else 0.0
    met = ratio >= 0.5 and summary["heartbeat"]["p99_ms"] < 50 and summary["heartbeat"]["errors"] == 0
    print(f"heartbeat / noop = {ratio:.0%} (target >= 50%), heartbeat p99 {summary['heartbeat']['p99_ms']} ms (target < 50 ms)")
    print(json.dumps({"bench": "heartbeat", "workers": args.workers, "seconds": args.seconds, "flush": not args.no_flush, **summary,
                      "heartbeat_over_noop": round(ratio, 3), "met": met}))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
