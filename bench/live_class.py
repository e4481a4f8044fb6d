"""Benchmark: one live class of 100 to 5,000 student WebSocket connections, on Lectern and on
the classic peer (python-socketio with its Redis manager, `bench/peer/server.py`).

For each class size and each target it measures, with the same client workload:

- the connect storm: every student connects at once (on Lectern: negotiate, then connect
  through the local Web PubSub service, whose `connect` event the host's event handler
  answers); its duration and, on Lectern, the p50/p99 latency of `POST .../negotiate`;
- fan-out: p50/p99 from the tutor opening a poll (REST) to each student receiving
  `poll.opened` (several polls, every delivery counted);
- chat fan-out: p50/p99 from a student sending `chat` to each student receiving the
  `chat.message` (several chats from different students);
- a vote storm: every student votes once within one second; every vote must be
  acknowledged, the closed counts must equal the votes acknowledged, and every student
  must hold the final tally;
- messages lost: class messages (by `seq`) a client missed once every student was
  connected, plus `poll.opened` / `poll.closed` / `chat.message` missing at any client;
  gaps during the connect storm are counted apart (`seqGapsDuringStorm`): there a gap can
  be a join race rather than a loss;
- server cost: CPU seconds and RSS of the server processes (Lectern: the Functions host
  and the Web PubSub service, found by the ports they listen on; the
  peer: its processes), per phase, per connection, per delivered message and per vote;
  redis-server's CPU is reported apart (it is shared with anything else on the machine).

Student clients are raw aiohttp WebSockets spread over worker processes: the
`json.webpubsub.azure.v1` subprotocol for Lectern, the Engine.IO 4 / Socket.IO 5 wire
protocol for the peer (answering its pings), so neither side pays for a heavy client.
Bounded: every wait has a timeout and the run stops by itself. Prints its figures and a
final JSON line.

    python bench/live_class.py                                    # Lectern, 1,000 students, bench stack
    python bench/live_class.py --sizes 100,1000,2500,5000 --targets lectern,peer
    python bench/live_class.py --profile test --students 5000     # the test profile's stack
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from typing import Any

import aiohttp

from common import Profiler, api, percentile, raise_fd_limit, rounded

ROOT = Path(__file__).resolve().parent.parent
SUBPROTOCOL = "json.webpubsub.azure.v1"
SEQ_RESTART_JUMP = 10**9
sys.path.insert(0, str(ROOT))
from devstack.profiles import PROFILES  # noqa: E402

PROFILE_BASE_URLS = {name: profile.base_url for name, profile in PROFILES.items()}
PEER_AUDIENCE = "lectern-bench-peer"


# --- worker process: a slice of the students ---------------------------------------------------
class Student:
    """One student's connection and what it received; the transport is the subclass's."""

    def __init__(self, user_id: str, token: str) -> None:
        self.user_id = user_id
        self.token = token
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.seqs: set[int] = set()
        self.opened: dict[str, float] = {}
        self.closed: dict[str, tuple[float, list[int]]] = {}
        self.chats: dict[str, float] = {}
        self.acks: dict[str, asyncio.Future] = {}
        self.reader: asyncio.Task | None = None
        self.received = 0
        self.presence_updates = 0
        self.floor: int | None = None

    def on_message(self, data: dict, now: float) -> None:
        """A server → client message of the class (or an acknowledgement)."""
        self.received += 1
        kind = data.get("type")
        if kind == "ack":
            future = self.acks.pop(str(data.get("ref")), None)
            if future is not None and not future.done():
                future.set_result(data)
            return
        seq = data.get("seq")
        if isinstance(seq, int):
            self.seqs.add(seq)
        if kind == "presence.updated":
            self.presence_updates += 1
        elif kind == "poll.opened":
            self.opened[data["poll"]["id"]] = now
        elif kind == "poll.closed":
            self.closed[data["pollId"]] = (now, data["counts"])
        elif kind == "chat.message":
            self.chats[str(data.get("text"))] = now

    async def send(self, event: str, data: dict[str, Any], timeout: float) -> dict:
        ref = uuid.uuid4().hex[:12]
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self.acks[ref] = future
        await self.send_event(event, {**data, "ref": ref})
        return await asyncio.wait_for(future, timeout)

    async def send_event(self, event: str, data: dict[str, Any]) -> None:
        raise NotImplementedError

    async def connect(self, session: aiohttp.ClientSession, command: dict, index: int) -> float | None:
        """Connects; returns the negotiate latency in ms where there is one."""
        raise NotImplementedError

    def settled(self) -> None:
        """Marks the end of the connect storm: gaps above this seq are losses, not join races."""
        if self.floor is None and self.seqs:
            self.floor = max(self.seqs)

    def lost(self) -> tuple[int, int, int]:
        """(class messages missed after the storm, missed during it, seq restarts).

        Both count seqs between the first and last one seen that never arrived. During the
        storm a gap can be a join race (a message allocated before the student joined the
        group but delivered after a later one); after it, every gap is a lost message.

        A restart is the jump to the current time in ms that follows Redis losing the
        class's state: clients reload the state then, and nothing in the jump was sent.
        """
        ordered = sorted(self.seqs)
        lost = storm = restarts = 0
        for before, after in zip(ordered, ordered[1:]):
            if after - before > SEQ_RESTART_JUMP:
                restarts += 1
            elif self.floor is not None and after <= self.floor:
                storm += after - before - 1
            else:
                lost += after - before - 1
        return lost, storm, restarts


class WebPubSubStudent(Student):
    """Lectern: negotiate through the API, then the Web PubSub JSON subprotocol."""

    ack_id = 0

    async def connect(self, session: aiohttp.ClientSession, command: dict, index: int) -> float | None:
        base, class_id = command["baseUrl"], command["classId"]
        started = time.perf_counter()
        async with session.post(f"{base}/classes/{class_id}/negotiate", headers={"Authorization": f"Bearer {self.token}"}) as resp:
            body = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"negotiate {resp.status}: {body}")
        negotiate_ms = (time.perf_counter() - started) * 1000
        self.ws = await session.ws_connect(body["url"], protocols=(SUBPROTOCOL,), heartbeat=None,
                                           timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=10))
        first = await asyncio.wait_for(self.ws.receive(), 30)
        hello = json.loads(first.data) if first.type == aiohttp.WSMsgType.TEXT else {}
        if hello.get("event") != "connected":
            raise RuntimeError(f"no connected message: {first.type}")
        return negotiate_ms

    async def read(self) -> None:
        assert self.ws is not None
        async for frame in self.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            now = time.time()
            packet = json.loads(frame.data)
            data = packet.get("data")
            if packet.get("type") == "message" and isinstance(data, dict):
                self.on_message(data, now)

    async def send_event(self, event: str, data: dict[str, Any]) -> None:
        assert self.ws is not None
        WebPubSubStudent.ack_id += 1
        await self.ws.send_str(json.dumps(
            {"type": "event", "event": event, "ackId": WebPubSubStudent.ack_id, "dataType": "json", "data": data}
        ))


class SocketIOStudent(Student):
    """The peer: Engine.IO 4 over a WebSocket, Socket.IO 5 packets (connect, event, ack)."""

    def __init__(self, user_id: str, token: str) -> None:
        super().__init__(user_id, token)
        self.packet_id = 0
        self.sio_acks: dict[int, asyncio.Future] = {}

    async def connect(self, session: aiohttp.ClientSession, command: dict, index: int) -> float | None:
        urls = command["peerUrls"]
        url = urls[index % len(urls)].replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.ws = await session.ws_connect(url, heartbeat=None, timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=10))
        opening = await asyncio.wait_for(self.ws.receive(), 30)
        if opening.type != aiohttp.WSMsgType.TEXT or not opening.data.startswith("0"):
            raise RuntimeError(f"no Engine.IO open packet: {opening.type}")
        await self.ws.send_str("40" + json.dumps({"token": self.token, "classId": command["classId"]}))
        while True:
            reply = await asyncio.wait_for(self.ws.receive(), 30)
            if reply.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"connection closed during the Socket.IO handshake: {reply.type}")
            if reply.data.startswith("40"):
                return None
            if reply.data.startswith("44"):
                raise RuntimeError(f"Socket.IO connect refused: {reply.data[:120]}")
            # The server puts the socket in its room before it answers the connect, so class
            # messages (and pings) can arrive first: they count like any other.
            await self.handle(reply.data, time.time())

    async def handle(self, text: str, now: float) -> None:
        """One Engine.IO text frame: a ping, a class message or an acknowledgement."""
        assert self.ws is not None
        if text == "2":
            await self.ws.send_str("3")
        elif text.startswith("42"):
            payload = json.loads(text[2:])
            if payload and payload[0] == "message" and isinstance(payload[1], dict):
                self.on_message(payload[1], now)
        elif text.startswith("43"):
            bracket = text.index("[")
            packet_id = int(text[2:bracket])
            args = json.loads(text[bracket:])
            self.received += 1
            future = self.sio_acks.pop(packet_id, None)
            if future is not None and not future.done():
                future.set_result(args[0] if args else {})

    async def read(self) -> None:
        assert self.ws is not None
        async for frame in self.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            await self.handle(frame.data, time.time())

    async def send(self, event: str, data: dict[str, Any], timeout: float) -> dict:
        assert self.ws is not None
        self.packet_id += 1
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self.sio_acks[self.packet_id] = future
        await self.ws.send_str(f"42{self.packet_id}" + json.dumps([event, data]))
        return await asyncio.wait_for(future, timeout)


async def worker_main(index: int, target: str, commands: mp.Queue, results: mp.Queue) -> None:
    raise_fd_limit()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=60))
    students: dict[str, Student] = {}
    kind_of = WebPubSubStudent if target == "lectern" else SocketIOStudent
    try:
        while True:
            command = await asyncio.get_running_loop().run_in_executor(None, commands.get)
            kind = command["kind"]
            if kind == "connect":
                results.put(await connect_all(session, students, kind_of, command))
            elif kind == "mark":
                for student in students.values():
                    student.settled()
                results.put({"kind": "marked", "received": sum(s.received for s in students.values())})
            elif kind == "chat":
                results.put(await chat_one(students, command))
            elif kind == "vote":
                results.put(await vote_all(list(students.values()), command))
            elif kind == "report":
                results.put(report(list(students.values()), command))
            elif kind == "stop":
                break
    finally:
        await asyncio.gather(*(s.ws.close() for s in students.values() if s.ws is not None), return_exceptions=True)
        await session.close()
        results.put({"kind": "stopped", "worker": index})


async def connect_all(session: aiohttp.ClientSession, students: dict[str, Student], kind_of: type[Student],
                      command: dict) -> dict:
    await asyncio.sleep(max(0.0, command["startAt"] - time.time()))
    gate = asyncio.Semaphore(command["concurrency"])
    negotiate_ms: list[float] = []
    failures: list[str] = []
    done_at: list[float] = []

    async def one(index: int, user_id: str, token: str) -> None:
        async with gate:
            student = kind_of(user_id, token)
            try:
                negotiated = await student.connect(session, command, index)
                if negotiated is not None:
                    negotiate_ms.append(negotiated)
                student.reader = asyncio.get_running_loop().create_task(student.read())
                students[user_id] = student
                done_at.append(time.time())
            except Exception as exc:  # noqa: BLE001 - a benchmark counts failures
                failures.append(f"{type(exc).__name__}: {exc}"[:200])

    await asyncio.gather(*(one(command["offset"] + i, u, t) for i, (u, t) in enumerate(command["students"])))
    return {"kind": "connected", "negotiateMs": negotiate_ms, "doneAt": done_at, "failures": failures}


async def chat_one(students: dict[str, Student], command: dict) -> dict:
    student = students.get(command["userId"])
    if student is None:
        return {"kind": "chatted", "sentAt": None, "ok": False, "reason": "not connected"}
    sent_at = time.time()
    try:
        ack = await student.send("chat", {"text": command["text"]}, timeout=30)
    except Exception as exc:  # noqa: BLE001
        return {"kind": "chatted", "sentAt": sent_at, "ok": False, "reason": type(exc).__name__}
    return {"kind": "chatted", "sentAt": sent_at, "ok": bool(ack.get("ok")), "reason": ack.get("reason"),
            "ackMs": (time.time() - sent_at) * 1000}


async def vote_all(students: list[Student], command: dict) -> dict:
    poll_id, choices, window = command["pollId"], command["choices"], command["windowSeconds"]
    rng = random.Random(command["seed"])
    start_at = command["startAt"]
    ack_ms: list[float] = []
    refused: list[str] = []
    counted = 0

    async def one(student: Student, delay: float) -> None:
        nonlocal counted
        await asyncio.sleep(max(0.0, start_at + delay - time.time()))
        started = time.perf_counter()
        try:
            ack = await student.send("vote", {"pollId": poll_id, "option": choices[student.user_id]}, timeout=60)
            ack_ms.append((time.perf_counter() - started) * 1000)
            if ack.get("ok"):
                counted += 1
            else:
                refused.append(str(ack.get("reason")))
        except Exception as exc:  # noqa: BLE001
            refused.append(type(exc).__name__)

    ordered = sorted(students, key=lambda s: s.user_id)
    await asyncio.gather(*(one(s, rng.random() * window) for s in ordered))
    return {"kind": "voted", "ackMs": ack_ms, "refused": refused, "ok": counted, "ackedBy": time.time()}


def report(students: list[Student], command: dict) -> dict:
    return {
        "kind": "report",
        "opened": {p: [s.opened.get(p) for s in students] for p in command["pollIds"]},
        "closed": {p: [s.closed.get(p, (None, None)) for s in students] for p in command["pollIds"]},
        "chats": {t: [s.chats.get(t) for s in students] for t in command["chatTexts"]},
        "lost": sum(s.lost()[0] for s in students),
        "stormGaps": sum(s.lost()[1] for s in students),
        "restarts": sum(s.lost()[2] for s in students),
        "clients": len(students),
        "presenceUpdates": max((s.presence_updates for s in students), default=0),
        "open": sum(1 for s in students if s.ws is not None and not s.ws.closed),
    }


def run_worker(index: int, target: str, commands: mp.Queue, results: mp.Queue) -> None:
    asyncio.run(worker_main(index, target, commands, results))


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

    async def start_run(self, size: int, label: str) -> tuple[list[tuple[str, str]], dict]:
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
                [sys.executable, server, "--port", url.rsplit(":", 1)[1], "--redis", self.args.peer_redis,
                 "--secret", self.secret],
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


async def run_one(args: argparse.Namespace, side: LecternSide | PeerSide, size: int, run_index: int) -> dict:
    """One class of `size` students on one target: connect storm, polls, chats, vote storm."""
    rng = random.Random(args.seed + size)
    label = f"{side.name}-{size}"
    students, connect_info = await side.start_run(size, label)
    figures: dict[str, Any] = {"target": side.name, "students": size}
    ctx = mp.get_context("spawn")
    commands = [ctx.Queue() for _ in range(args.workers)]
    results = ctx.Queue()
    procs = [ctx.Process(target=run_worker, args=(i, side.name, commands[i], results), daemon=True)
             for i in range(args.workers)]
    for p in procs:
        p.start()
    server_pids = side.pids()
    watched = dict(server_pids)
    rpid = redis_pid()
    if rpid is not None:
        watched["redis"] = [rpid]
    watch = ProcessWatch(watched)
    watch.start()
    profiler = Profiler(Path(args.py_spy_dir), label, server_pids) if args.py_spy_dir else None
    server_roles = list(server_pids)

    def server_cpu(delta: dict[str, float]) -> float:
        return sum(delta[r] for r in server_roles)

    async def mark_all() -> int:
        for q in commands:
            q.put({"kind": "mark"})
        return sum(m["received"] for m in await gather_results(results, "marked", args.workers, args.timeout))

    try:
        await asyncio.sleep(1.0)  # workers import and start
        rss_idle = watch.rss()
        if side.rss_baseline is None:
            side.rss_baseline = {r: rss_idle[r] for r in server_roles}
        cpu0 = watch.cpu()
        start_at = time.time() + 0.5
        for i in range(args.workers):
            commands[i].put({"kind": "connect", **connect_info, "startAt": start_at, "offset": i,
                             "students": students[i :: args.workers], "concurrency": args.concurrency})
        connected = await gather_results(results, "connected", args.workers, args.timeout)
        negotiate_ms = [v for r in connected for v in r["negotiateMs"]]
        failures = [f for r in connected for f in r["failures"]]
        done_at = [v for r in connected for v in r["doneAt"]]
        cpu1 = watch.cpu()
        storm = cpu_delta(cpu1, cpu0)
        figures["connected"] = len(done_at)
        figures["connectFailures"] = len(failures)
        figures["connectStormSeconds"] = round(max(done_at) - start_at, 2) if done_at else None
        figures["negotiateP50Ms"] = rounded(percentile(negotiate_ms, 50))
        figures["negotiateP99Ms"] = rounded(percentile(negotiate_ms, 99))
        figures["stormServerCpuSeconds"] = round(server_cpu(storm), 2)
        figures["cpuMsPerConnection"] = round(server_cpu(storm) * 1000 / max(1, len(done_at)), 3)
        if failures:
            print("  connect failures (first 3):", failures[:3], flush=True)

        async def presence_is_full() -> bool:
            return await side.presence() >= len(done_at)

        figures["presenceSettled"] = await wait_until(presence_is_full, 30, 0.25)
        await asyncio.sleep(0.5)
        rss_connected = watch.rss()

        # Fan-out: polls from the tutor, then chats from students.
        received0 = await mark_all()
        cpu2 = watch.cpu()
        poll_ids: list[str] = []
        post_times: dict[str, float] = {}
        for round_no in range(args.polls):
            sent = time.time()
            poll_id = await side.open_poll(f"Fan-out {round_no}")
            post_times[poll_id] = sent
            poll_ids.append(poll_id)
            await asyncio.sleep(args.poll_gap)
            await side.close_poll(poll_id)
            await asyncio.sleep(args.poll_gap / 2)
        senders = rng.sample([u for u, _ in students], min(args.chats, len(students)))
        chat_texts: list[str] = []
        chat_sent: dict[str, float] = {}
        chat_refused: list[str] = []
        worker_of = {u: i % args.workers for i, (u, _) in enumerate(students)}
        for k, sender in enumerate(senders):
            text = f"chat {k} {uuid.uuid4().hex[:8]}"
            chat_texts.append(text)
            commands[worker_of[sender]].put({"kind": "chat", "userId": sender, "text": text})
            chatted = (await gather_results(results, "chatted", 1, args.timeout))[0]
            if chatted["sentAt"] is not None:
                chat_sent[text] = chatted["sentAt"]
            if not chatted["ok"]:
                chat_refused.append(str(chatted["reason"]))
            await asyncio.sleep(args.chat_gap)
        await asyncio.sleep(1.0)
        received1 = await mark_all()
        cpu3 = watch.cpu()
        fanout_cpu = cpu_delta(cpu3, cpu2)
        delivered = received1 - received0
        figures["fanoutMessagesDelivered"] = delivered
        figures["fanoutServerCpuSeconds"] = round(server_cpu(fanout_cpu), 3)
        figures["cpuUsPerDeliveredMessage"] = round(server_cpu(fanout_cpu) * 1e6 / max(1, delivered), 2)
        figures["redisCpuUsPerDeliveredMessage"] = (round(fanout_cpu["redis"] * 1e6 / max(1, delivered), 2)
                                                     if "redis" in fanout_cpu else None)
        figures["chatRefused"] = len(chat_refused)

        # Vote storm: every connected student votes once within the window.
        vote_poll = await side.open_poll("Burst")
        poll_ids.append(vote_poll)
        post_times[vote_poll] = time.time()
        await asyncio.sleep(args.poll_gap)
        choices = {user_id: rng.randrange(4) for user_id, _ in students}
        cpu4 = watch.cpu()
        burst_at = time.time() + 0.5
        for i in range(args.workers):
            commands[i].put({"kind": "vote", "pollId": vote_poll, "choices": choices, "windowSeconds": args.vote_window,
                             "startAt": burst_at, "seed": args.seed + i})
        voted = await gather_results(results, "voted", args.workers, args.timeout)
        cpu5 = watch.cpu()
        vote_cpu = cpu_delta(cpu5, cpu4)
        refused = [r for v in voted for r in v["refused"]]
        ack_ms = [a for v in voted for a in v["ackMs"]]
        figures["votesAcked"] = sum(v["ok"] for v in voted)
        figures["votesRefused"] = len(refused)
        if refused:
            print("  refused votes by reason:", {r: refused.count(r) for r in sorted(set(refused))}, flush=True)
        figures["lastVoteAckedSeconds"] = round(max(v["ackedBy"] for v in voted) - burst_at, 2)
        figures["voteAckP50Ms"] = rounded(percentile(ack_ms, 50))
        figures["voteAckP99Ms"] = rounded(percentile(ack_ms, 99))
        figures["voteServerCpuSeconds"] = round(server_cpu(vote_cpu), 3)
        figures["cpuMsPerVote"] = round(server_cpu(vote_cpu) * 1000 / max(1, len(ack_ms)), 3)
        closed_sent = time.time()
        closed = await side.close_poll(vote_poll)
        figures["closedTotal"] = closed["total"]
        figures["closeRequestMs"] = round((time.time() - closed_sent) * 1000, 1)
        await asyncio.sleep(2.0)

        for i in range(args.workers):
            commands[i].put({"kind": "report", "pollIds": poll_ids, "chatTexts": chat_texts})
        reports = await gather_results(results, "report", args.workers, args.timeout)

        fanout_ms: list[float] = []
        missing_opened = 0
        for poll_id in poll_ids:
            for r in reports:
                for received in r["opened"][poll_id]:
                    if received is None:
                        missing_opened += 1
                    else:
                        fanout_ms.append((received - post_times[poll_id]) * 1000)
        final_ms: list[float] = []
        wrong_tally = missing_closed = 0
        for poll_id in poll_ids:
            for r in reports:
                for received, counts in r["closed"][poll_id]:
                    if received is None:
                        missing_closed += 1
                    elif poll_id == vote_poll:
                        final_ms.append((received - closed_sent) * 1000)
                        if counts != closed["counts"]:
                            wrong_tally += 1
        chat_ms: list[float] = []
        missing_chat = 0
        for text in chat_texts:
            if text not in chat_sent:
                continue
            for r in reports:
                for received in r["chats"][text]:
                    if received is None:
                        missing_chat += 1
                    else:
                        chat_ms.append((received - chat_sent[text]) * 1000)
        figures["pollOpenedP50Ms"] = rounded(percentile(fanout_ms, 50))
        figures["pollOpenedP99Ms"] = rounded(percentile(fanout_ms, 99))
        figures["pollOpenedDeliveries"] = len(fanout_ms)
        figures["chatP50Ms"] = rounded(percentile(chat_ms, 50))
        figures["chatP99Ms"] = rounded(percentile(chat_ms, 99))
        figures["chatDeliveries"] = len(chat_ms)
        figures["finalTallyP50Ms"] = rounded(percentile(final_ms, 50))
        figures["finalTallyMaxMs"] = rounded(max(final_ms)) if final_ms else None
        figures["finalTallyWrongAtClients"] = wrong_tally
        figures["votesCountedExactly"] = closed["total"] == figures["votesAcked"] and wrong_tally == 0
        figures["messagesLost"] = sum(r["lost"] for r in reports) + missing_opened + missing_closed + missing_chat
        figures["lostBreakdown"] = {"seqGaps": sum(r["lost"] for r in reports), "pollOpened": missing_opened,
                                    "pollClosed": missing_closed, "chat": missing_chat}
        figures["seqGapsDuringStorm"] = sum(r["stormGaps"] for r in reports)
        figures["seqRestartsSeen"] = sum(r["restarts"] for r in reports)
        figures["clientsStillConnected"] = sum(r["open"] for r in reports)
        figures["presenceUpdatesAtOneClient"] = max(r["presenceUpdates"] for r in reports)
        figures["rssIdleMiB"] = {r: round(v / 2**20, 1) for r, v in rss_idle.items()}
        figures["rssConnectedMiB"] = {r: round(v / 2**20, 1) for r, v in rss_connected.items()}
        figures["rssPeakMiB"] = {r: round(v / 2**20, 1) for r, v in watch.peak.items()}
        # Above where the processes started: Python keeps freed memory for reuse, so the
        # growth within one class says nothing once an earlier class has been bigger.
        figures["serverRssGrowthKiBPerConnection"] = round(
            sum(rss_connected[r] - side.rss_baseline[r] for r in server_roles) / 1024 / max(1, len(done_at)), 1)
        figures["serverRssPeakMiB"] = round(sum(watch.peak[r] for r in server_roles) / 2**20, 1)
        figures["cpuSeconds"] = {"storm": storm, "fanout": fanout_cpu, "votes": vote_cpu}
    finally:
        if profiler is not None:
            figures["profiles"] = profiler.stop()
        await watch.stop()
        for q in commands:
            q.put({"kind": "stop"})
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
        try:
            await side.end_run()
        except Exception as exc:  # noqa: BLE001 - the figures are already taken
            print(f"  ending the run failed: {exc}", flush=True)
    return figures


def run_ok(figures: dict) -> bool:
    """A run counts only when every student got in, every vote and chat was taken and nothing was lost:
    its latencies are of the deliveries that happened, so a partial class would look faster than it is."""
    return (figures.get("messagesLost") == 0 and bool(figures.get("votesCountedExactly"))
            and figures.get("connectFailures") == 0 and figures.get("votesRefused") == 0
            and figures.get("chatRefused") == 0)


async def coordinate(args: argparse.Namespace) -> dict:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64), timeout=aiohttp.ClientTimeout(total=120))
    sides: dict[str, LecternSide | PeerSide] = {}
    out: dict[str, Any] = {"sizes": args.sizes, "targets": args.targets, "workers": args.workers, "seed": args.seed,
                           "polls": args.polls, "chats": args.chats, "voteWindowSeconds": args.vote_window,
                           "peerProcesses": args.peer_processes, "runs": []}
    try:
        most = max(args.sizes)
        for target in args.targets:
            side = LecternSide(args, session) if target == "lectern" else PeerSide(args, session)
            print(f"… {target}: setting up {most} students", flush=True)
            out[f"{target}SetupSeconds"] = round(await side.prepare(most), 1)
            sides[target] = side
        run_index = 0
        for size in args.sizes:
            for target in args.targets:
                print(f"… {target}: a class of {size} students (connect storm, {args.polls} polls, {args.chats} chats, "
                      f"vote storm)", flush=True)
                started = time.monotonic()
                try:
                    figures = await run_one(args, sides[target], size, run_index)
                except Exception as exc:  # noqa: BLE001 - one failed run must not hide the others
                    figures = {"target": target, "students": size, "error": f"{type(exc).__name__}: {exc}"[:500]}
                figures["seconds"] = round(time.monotonic() - started, 1)
                figures["ok"] = run_ok(figures)
                out["runs"].append(figures)
                run_index += 1
                print("  " + ", ".join(
                    f"{k}={figures.get(k)}" for k in ("connectStormSeconds", "pollOpenedP99Ms", "chatP99Ms", "voteAckP99Ms",
                                                      "messagesLost", "votesCountedExactly", "cpuUsPerDeliveredMessage",
                                                      "error") if k in figures), flush=True)
    finally:
        for side in sides.values():
            if isinstance(side, PeerSide):
                await side.end_run()
        await session.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description="Live class benchmark: Lectern and the classic peer, by class size.")
    parser.add_argument("--sizes", default=None, help="class sizes, comma-separated (default 1000)")
    parser.add_argument("--students", type=int, default=None, help="one class size (same as --sizes N)")
    parser.add_argument("--targets", default="lectern", help="lectern, peer or both, comma-separated")
    parser.add_argument("--profile", default="bench", choices=sorted(PROFILE_BASE_URLS), help="devstack profile of the stack")
    parser.add_argument("--base-url", default=None, help="Lectern API base (default: the profile's host)")
    parser.add_argument("--workers", type=int, default=2, help="client processes")
    parser.add_argument("--concurrency", type=int, default=250, help="connects in flight per worker")
    parser.add_argument("--polls", type=int, default=5, help="polls opened to measure fan-out")
    parser.add_argument("--poll-gap", type=float, default=1.0, help="seconds a fan-out poll stays open")
    parser.add_argument("--chats", type=int, default=5, help="chat messages, each from a different student")
    parser.add_argument("--chat-gap", type=float, default=0.3, help="seconds between chat messages")
    parser.add_argument("--vote-window", type=float, default=1.0, help="seconds over which every student votes")
    parser.add_argument("--peer-processes", type=int, default=2, help="peer server processes (one Redis-backed cluster)")
    parser.add_argument("--peer-port", type=int, default=7301, help="first peer port")
    parser.add_argument("--peer-redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--py-spy-dir", default=None, help="record the server processes with py-spy into this folder")
    parser.add_argument("--fresh-stack", action="store_true",
                        help="restart the profile's host and Web PubSub service first (memory from a clean slate)")
    parser.add_argument("--seed", type=int, default=20260301)
    parser.add_argument("--timeout", type=float, default=300, help="bound of every phase, seconds")
    args = parser.parse_args()
    if args.students is not None and args.sizes is None:
        args.sizes = str(args.students)
    args.sizes = [int(s) for s in (args.sizes or "1000").split(",")]
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if not set(args.targets) <= {"lectern", "peer"}:
        parser.error("targets are lectern and peer")
    raise_fd_limit()
    os.environ.setdefault("PYTHONHASHSEED", "0")
    result = asyncio.run(coordinate(args))
    for run in result["runs"]:
        print(f"\n{run['target']} — {run['students']} students")
        width = max(len(k) for k in run)
        for key, value in run.items():
            print(f"  {key:<{width}}  {value}")
    print(json.dumps({"benchmark": "live_class", **result}))
    return 0 if all(r["ok"] for r in result["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
