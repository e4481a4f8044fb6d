"""What the benchmarks share: a local host of their own, seeding through the API, one load generator, statistics.

Every figure a benchmark prints should come from the same code path, so that two numbers
from two scripts can be compared: the same percentile, the same keep-alive load generator,
the same way of starting a host on a devstack profile's services.
"""

from __future__ import annotations

import asyncio
import math
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"

# (method, url, headers, JSON body or None): one planned request of a load phase.
Request = tuple[str, str, dict[str, str], Any]


# --- statistics ----------------------------------------------------------------------------
def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100): always a value that was measured; None when there is none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[min(len(ordered), max(rank, 1)) - 1]


def rounded(value: float | None, digits: int = 1) -> float | None:
    """`round` that lets a missing figure through as None, so JSON shows null rather than failing."""
    return None if value is None else round(value, digits)


# --- the machine ---------------------------------------------------------------------------
def raise_fd_limit() -> None:
    """Soft open-files limit up to the hard one: thousands of sockets outgrow the default 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 65536
    if soft == resource.RLIM_INFINITY or soft >= target:
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def free_port() -> int:
    """A loopback port nothing listens on now, so a benchmark's own servers never meet the dev stack's."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), None elsewhere: the cost per request."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError, TypeError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile_environment(profile: str) -> dict[str, str]:
    """The settings a profile's host runs with (local settings plus the profile's addresses)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from devstack.stack import Stack

    return Stack(profile, out=lambda line: None).env()


# --- a host of the benchmark's own ----------------------------------------------------------
class Host:
    """One `python -m devhost` process on a profile's services, queue triggers off.

    A benchmark starts its own rather than using the stack's host on 7071, so the process it
    measures (and whose CPU it reads) serves nobody else, with exactly the settings it names.
    """

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

    async def start(self, timeout: float = 60) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        flags = ["--no-queues", *([] if self.timers else ["--no-timers"])]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devhost", "--port", str(self.port), *flags],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
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

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


# --- scratch databases -----------------------------------------------------------------------
def scratch_database(admin_url: str, name: str) -> str:
    """Drops and recreates database `name` with the app's migrations applied; its URL.

    Benchmarks that load millions of rows use a database of their own, so the dev data is
    never touched and every run starts from the same state.
    """
    import psycopg
    from psycopg import sql

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from shared_code.migrations import apply_migrations

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(admin_url, dbname=name)
    apply_migrations(url)
    return url


# --- the public API ------------------------------------------------------------------------
async def api(session: aiohttp.ClientSession, method: str, url: str, token: str | None = None, body: Any = None) -> Any:
    """One API call for setting a benchmark up; any 4xx/5xx stops the run with what the server said."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, url, json=body, headers=headers) as resp:
        data = await resp.json(content_type=None)
        if resp.status >= 400:
            raise RuntimeError(f"{method} {url} -> {resp.status}: {data}")
        return data


@dataclass
class Course:
    """What `seed` made: ids to aim requests at and the tokens to send them with."""

    id: str
    tutor: str
    lessons: list[str]
    students: list[str]
    quizzes: list[str] = field(default_factory=list)


async def seed(
    base: str, *, lessons: int, students: int, quizzes: int = 0, max_attempts: int | None = None,
    duration_seconds: int = 3600, title: str = "Bench course",
) -> Course:
    """A published course with `lessons` videos, `quizzes` quiz lessons and `students` enrolled students.

    Everything goes through the public API with development tokens, so the rows, cache
    entries and memberships are exactly the ones real traffic would produce.
    """
    async with aiohttp.ClientSession() as s:
        tutor = (await api(s, "POST", f"{base}/dev/token", body={"name": "bench tutor", "roles": ["tutor"]}))["token"]
        course = await api(s, "POST", f"{base}/courses", tutor, {"title": title, "description": "benchmark data"})
        videos = []
        for i in range(lessons):
            video = await api(s, "POST", f"{base}/videos", tutor, {"title": f"Video {i}", "durationSeconds": duration_seconds})
            lesson = await api(s, "POST", f"{base}/courses/{course['id']}/lessons", tutor, {
                "title": f"Video {i}", "kind": "video", "videoAssetId": video["id"], "durationSeconds": duration_seconds,
            })
            videos.append(lesson["id"])
        quiz_ids = []
        for i in range(quizzes):
            lesson = await api(s, "POST", f"{base}/courses/{course['id']}/lessons", tutor, {"title": f"Quiz {i}", "kind": "quiz"})
            quiz = await api(s, "POST", f"{base}/quizzes", tutor, {
                "lessonId": lesson["id"],
                "title": f"Quiz {i}",
                "questions": [{"prompt": f"Question {q}", "options": ["a", "b", "c", "d"], "correct": [q % 4]} for q in range(3)],
                **({"maxAttempts": max_attempts} if max_attempts else {}),
            })
            quiz_ids.append(quiz["id"])
        await api(s, "PATCH", f"{base}/courses/{course['id']}", tutor, {"published": True})
        gate = asyncio.Semaphore(16)

        async def student(i: int) -> str:
            async with gate:
                token = (await api(s, "POST", f"{base}/dev/token", body={"name": f"bench student {i}", "roles": ["student"]}))["token"]
                await api(s, "POST", f"{base}/courses/{course['id']}/enrollments", token, {})
                return token

        tokens = list(await asyncio.gather(*(student(i) for i in range(students))))
    return Course(course["id"], tutor, videos, tokens, quiz_ids)


# --- the load generator --------------------------------------------------------------------
# A phase with more failed requests than this share fails: latency figures are taken over
# served requests only, so a phase could otherwise hide a stream of fast errors behind a
# good p99.
MAX_FAILURE_RATE = 0.001


@dataclass
class Phase:
    """One measured phase: answers with the expected status count as requests served, the rest as errors.

    Latencies are of served requests only. A refused or broken request usually answers
    fast, so mixing it in would pull the percentiles down; failures are counted apart
    (by status, or `connection` when no answer came) and fail the phase above
    MAX_FAILURE_RATE.
    """

    name: str
    served: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    host_cpu_seconds: float | None = None
    errors_by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return self.served + self.errors

    @property
    def rps(self) -> float:
        return self.served / self.seconds if self.seconds else 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def failed(self) -> bool:
        """No request measured, or more failures than MAX_FAILURE_RATE allows."""
        return not self.requests or self.error_rate > MAX_FAILURE_RATE

    def summary(self) -> dict[str, Any]:
        cpu = self.host_cpu_seconds * 1e6 / self.requests if self.host_cpu_seconds is not None and self.requests else None
        return {
            "rps": round(self.rps, 1),
            "p50Ms": rounded(percentile(self.latencies_ms, 50), 2),
            "p99Ms": rounded(percentile(self.latencies_ms, 99), 2),
            "requests": self.requests,
            "errors": self.errors,
            "errorRate": round(self.error_rate, 6),
            "errorsByKind": dict(self.errors_by_kind),
            "failed": self.failed,
            "hostCpuUsPerRequest": rounded(cpu, 1),
        }


def cycling(plan: list[Request]) -> Callable[[], Request]:
    """The planned requests over and over, for phases where repeating one is harmless."""
    state = {"i": 0}

    def next_request() -> Request:
        request = plan[state["i"] % len(plan)]
        state["i"] += 1
        return request

    return next_request


async def drive(
    name: str,
    next_request: Callable[[], Request],
    *,
    workers: int,
    seconds: float,
    warmup: float,
    expect: int,
    host_pid: int | None = None,
) -> Phase:
    """`workers` keep-alive loops sending `next_request()` for `warmup + seconds`; only the last `seconds` count.

    Each worker waits for its answer before sending again (a closed loop), so throughput is
    what the server sustains at that concurrency and latency includes no client queueing.
    `next_request` is called in issue order, so a plan built from a fixed seed gives the same
    sequence every run; when it raises StopIteration the phase ends early and its rate is
    taken over the time it actually ran.
    """
    latencies: list[float] = []
    counts = {"served": 0, "errors": 0}
    errors: dict[str, int] = {}
    cpu: dict[str, float | None] = {}
    connector = aiohttp.TCPConnector(limit=workers)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        measure_from = time.perf_counter() + warmup
        stop_at = measure_from + seconds
        ended = {"at": stop_at}

        async def sample_cpu() -> None:
            await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
            cpu["from"] = cpu_seconds(host_pid)
            await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
            cpu["to"] = cpu_seconds(host_pid)

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                try:
                    method, url, headers, body = next_request()
                except StopIteration:
                    ended["at"] = min(ended["at"], time.perf_counter())
                    return
                started = time.perf_counter()
                try:
                    async with session.request(method, url, json=body, headers=headers) as resp:
                        await resp.read()
                        kind = None if resp.status == expect else str(resp.status)
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    kind = "connection"
                if started >= measure_from:
                    record(latencies, counts, errors, kind, (time.perf_counter() - started) * 1000)

        await asyncio.gather(sample_cpu(), *(worker() for _ in range(workers)))
    measured = max(0.0, min(ended["at"], stop_at) - measure_from)
    used = cpu["to"] - cpu["from"] if cpu.get("from") is not None and cpu.get("to") is not None else None
    return Phase(name, counts["served"], counts["errors"], measured, latencies, used, errors)


def record(latencies: list[float], counts: dict[str, int], errors: dict[str, int], failure: str | None,
           elapsed_ms: float) -> None:
    """One measured request: its latency if it was served, otherwise one more failure of its kind."""
    if failure is None:
        latencies.append(elapsed_ms)
        counts["served"] += 1
    else:
        counts["errors"] += 1
        errors[failure] = errors.get(failure, 0) + 1


# --- profiles ------------------------------------------------------------------------------
