"""The two targets of the live-class benchmark as the coordinator drives them (Lectern
through its API, the peer through its own), and the server processes whose CPU and memory
each run reports.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import queue
import random
import secrets
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp

from common import api
from live_students import PEER_AUDIENCE

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from devstack.profiles import PROFILES  # noqa: E402
from shared_code.adapters.redis import keys  # noqa: E402

PROFILE_BASE_URLS = {name: profile.base_url for name, profile in PROFILES.items()}


# --- server processes: CPU and memory ------------------------------------------------------------
class ProcessWatch:
    """CPU seconds and RSS of named server processes, sampled for peaks while a run lasts."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        import psutil  # bench/requirements.txt

        self.procs = {role: [psutil.Process(p) for p in plist] for role, plist in pids.items()}
        self.peak: dict[str, int] = {role: 0 for role in pids}
        self.task: asyncio.Task | None = None

    def _total(self, measure) -> dict[str, float]:
        out: dict[str, float] = {}
        for role, procs in self.procs.items():
            total = 0.0
            for proc in procs:
                try:
                    total += measure(proc)
                except Exception:  # noqa: BLE001 - a process that ended adds nothing
                    pass
            out[role] = total
        return out

    def cpu(self) -> dict[str, float]:
        """User + system CPU seconds so far, per role."""
        return self._total(lambda proc: proc.cpu_times().user + proc.cpu_times().system)

    def rss(self) -> dict[str, int]:
        """Resident memory now, per role; also keeps each role's peak."""
        out = {role: int(total) for role, total in self._total(lambda proc: proc.memory_info().rss).items()}
        for role, total in out.items():
            self.peak[role] = max(self.peak[role], total)
        return out

    async def sample(self) -> None:
        while True:
            self.rss()
            await asyncio.sleep(0.2)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.sample())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


def cpu_delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {role: round(after[role] - before[role], 3) for role in after}


def listening_pid(port: int) -> int | None:
    """The process listening on a loopback port: found this way whoever started the stack
    (this checkout, another one, or by hand)."""
    import psutil

    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return conn.pid
    return None


def redis_pid() -> int | None:
    return listening_pid(6379)


def lectern_pids(profile: str) -> dict[str, list[int]]:
    """The profile's Functions host and Web PubSub service processes."""
    ports = {"host": PROFILES[profile].host_port, "pubsub": PROFILES[profile].pubsub_port}
    pids = {role: listening_pid(port) for role, port in ports.items()}
    return {role: [pid] for role, pid in pids.items() if pid is not None}


# --- the coordinator ---------------------------------------------------------------------------
async def gather_results(results: mp.Queue, kind: str, workers: int, timeout: float) -> list[dict]:
    """The workers' answers of `kind`, read off the event loop so the CPU/RSS sampler keeps running."""
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    loop = asyncio.get_running_loop()
    while len(out) < workers:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"workers did not answer '{kind}' within {timeout:.0f} s")
        try:
            message = await loop.run_in_executor(None, results.get, True, min(remaining, 1.0))
        except queue.Empty:
            continue
        if message["kind"] == kind:
            out.append(message)
    return out


async def wait_until(check, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(interval)
    return False


class LecternSide:
    """Lectern through its public API: one tutor and course, a new class per run."""

    name = "lectern"

    def __init__(self, args: argparse.Namespace, session: aiohttp.ClientSession) -> None:
        self.args = args
        self.session = session
        self.base = (args.base_url or PROFILE_BASE_URLS[args.profile]).rstrip("/")
        self.students: list[tuple[str, str]] = []
        self.tutor: dict = {}
        self.course: dict = {}
        self.class_id = ""
        self.rss_baseline: dict[str, int] | None = None

    def restart_servers(self) -> None:
        """New host and Web PubSub processes, so memory per connection starts from a clean slate
        (the peer's processes are new for every class)."""
        for command in (["stop", "--only", "host,pubsub"], ["start"]):
            subprocess.run([sys.executable, "-m", "devstack", *command, "--profile", self.args.profile], cwd=ROOT,
                           check=True, stdout=subprocess.DEVNULL)

    async def prepare(self, most: int) -> float:
        """The tutor, a published course and `most` enrolled students, made once for every size."""
        if self.args.fresh_stack:
            print(f"… restarting the {self.args.profile} profile's host and Web PubSub service", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, self.restart_servers)
        started = time.monotonic()
        self.tutor = await api(self.session, "POST", f"{self.base}/dev/token", body={"name": "Bench tutor", "roles": ["tutor"]})
        self.course = await api(self.session, "POST", f"{self.base}/courses", self.tutor["token"],
                                {"title": "Bench course", "description": "bench"})
        await api(self.session, "PATCH", f"{self.base}/courses/{self.course['id']}", self.tutor["token"], {"published": True})
        gate = asyncio.Semaphore(48)
        run = uuid.uuid4().hex[:6]
        enrolled = 0

        async def one(i: int) -> tuple[str, str]:
            nonlocal enrolled
            async with gate:
                grant = await api(self.session, "POST", f"{self.base}/dev/token",
                                  body={"name": f"bench-{run}-{i:05d}", "roles": ["student"]})
                await api(self.session, "POST", f"{self.base}/courses/{self.course['id']}/enrollments", grant["token"], {})
                enrolled += 1
                if enrolled % 1000 == 0 or enrolled == most:  # thousands take a while: show it moving
                    print(f"  {enrolled}/{most} students enrolled", flush=True)
                return grant["userId"], grant["token"]

        self.students = list(await asyncio.gather(*(one(i) for i in range(most))))
        return time.monotonic() - started

    def expire_cached_accounts(self, students: list[tuple[str, str]]) -> None:
        """Every class's storm meets what a real class's does: its students' cached accounts
        gone (the cache keeps one for seconds, and students arriving for a class have mostly
        made no request just before). Without this a class right after the set-up would
        join warm and one after a pause (the peer's run of the same size) cold."""
        if self.args.base_url:
            return  # another stack: its Redis is not this profile's
        import redis

        client = redis.Redis.from_url(PROFILES[self.args.profile].with_environment(os.environ).redis_url)
        try:
            names = [keys.user_account(user_id) for user_id, _ in students]
            for i in range(0, len(names), 1000):
                client.delete(*names[i:i + 1000])
        finally:
            client.close()

    async def start_run(self, size: int, label: str) -> tuple[list[tuple[str, str]], dict]:
        await asyncio.get_running_loop().run_in_executor(None, self.expire_cached_accounts, self.students[:size])
        klass = await api(self.session, "POST", f"{self.base}/classes", self.tutor["token"],
                          {"courseId": self.course["id"], "title": f"Bench class {label}",
                           "scheduledAt": datetime.now(timezone.utc).isoformat()})
        await api(self.session, "POST", f"{self.base}/classes/{klass['id']}/start", self.tutor["token"])
        self.class_id = klass["id"]
        return self.students[:size], {"baseUrl": self.base, "classId": self.class_id}

    def pids(self) -> dict[str, list[int]]:
        return lectern_pids(self.args.profile)

    async def presence(self) -> int:
        state = await api(self.session, "GET", f"{self.base}/classes/{self.class_id}/state", self.tutor["token"])
        return int(state["presenceCount"])

    async def open_poll(self, question: str) -> str:
        poll = await api(self.session, "POST", f"{self.base}/classes/{self.class_id}/polls", self.tutor["token"],
                         {"question": question, "options": ["a", "b", "c", "d"]})
        return poll["id"]

    async def close_poll(self, poll_id: str) -> dict:
        return await api(self.session, "POST", f"{self.base}/classes/{self.class_id}/polls/{poll_id}/close", self.tutor["token"])

    async def end_run(self) -> None:
        await api(self.session, "POST", f"{self.base}/classes/{self.class_id}/end", self.tutor["token"])


class PeerSide:
    """The classic peer: its processes are started fresh for each run, on their own Redis db."""

    name = "peer"

    def __init__(self, args: argparse.Namespace, session: aiohttp.ClientSession) -> None:
        import jwt

        self.jwt = jwt
        self.args = args
        self.session = session
        self.secret = secrets.token_urlsafe(32)
        self.urls = [f"http://127.0.0.1:{args.peer_port + i}" for i in range(args.peer_processes)]
        self.procs: list[subprocess.Popen] = []
        self.students: list[tuple[str, str]] = []
        self.tutor_token = ""
        self.class_id = ""
        self.rss_baseline: dict[str, int] | None = None

    def token(self, user_id: str, name: str, role: str) -> str:
        exp = datetime.now(timezone.utc) + timedelta(hours=2)
        return self.jwt.encode({"sub": user_id, "name": name, "role": role, "aud": PEER_AUDIENCE, "exp": exp},
                               self.secret, algorithm="HS256")

    async def prepare(self, most: int) -> float:
        started = time.monotonic()
        rng = random.Random(self.args.seed)
        self.tutor_token = self.token(str(uuid.UUID(int=rng.getrandbits(128))), "Bench tutor", "tutor")
        for i in range(most):
            user_id = str(uuid.UUID(int=rng.getrandbits(128)))
            self.students.append((user_id, self.token(user_id, f"bench-{i:05d}", "student")))
        return time.monotonic() - started

    async def start_run(self, size: int, label: str) -> tuple[list[tuple[str, str]], dict]:
        import redis

        self.rss_baseline = None  # new processes for every class
        client = redis.Redis.from_url(self.args.peer_redis)
        client.flushdb()
        client.close()
        server = str(ROOT / "bench" / "peer" / "server.py")
        log_dir = ROOT / "bench" / "out"
        log_dir.mkdir(exist_ok=True)
        for i, url in enumerate(self.urls):
            log = open(log_dir / f"peer{i}.log", "w")  # noqa: SIM115 - the process owns it
            self.procs.append(subprocess.Popen(
                # `--secret=`: a URL-safe token may begin with "-", which would read as an option.
                [sys.executable, server, "--port", url.rsplit(":", 1)[1], "--redis", self.args.peer_redis,
                 f"--secret={self.secret}"],
                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
            ))
        for url in self.urls:
            async def healthy(url: str = url) -> bool:
                try:
                    async with self.session.get(f"{url}/health") as resp:
                        return resp.status == 200
                except aiohttp.ClientError:
                    return False

            if not await wait_until(healthy, 30, 0.1):
                raise RuntimeError(f"peer at {url} did not start (see bench/out/peer*.log)")
        self.class_id = str(uuid.uuid4())
        students = self.students[:size]
        await api(self.session, "PUT", f"{self.urls[0]}/classes/{self.class_id}", self.tutor_token,
                  {"members": [u for u, _ in students]})
        return students, {"peerUrls": self.urls, "classId": self.class_id}

    def pids(self) -> dict[str, list[int]]:
        return {"peer": [p.pid for p in self.procs]}

    async def presence(self) -> int:
        state = await api(self.session, "GET", f"{self.urls[0]}/classes/{self.class_id}/state")
        return int(state["presenceCount"])

    async def open_poll(self, question: str) -> str:
        poll = await api(self.session, "POST", f"{self.urls[0]}/classes/{self.class_id}/polls", self.tutor_token,
                         {"question": question, "options": ["a", "b", "c", "d"]})
        return poll["id"]

    async def close_poll(self, poll_id: str) -> dict:
        return await api(self.session, "POST", f"{self.urls[0]}/classes/{self.class_id}/polls/{poll_id}/close",
                         self.tutor_token)

    async def end_run(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()
