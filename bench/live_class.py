"""Benchmark: one live class with 1,000 (or 5,000) student WebSocket connections.

Measures, against a running stack (`python -m devstack start --profile test`, or the dev
profile with `--base-url http://127.0.0.1:7071/api`):

- the connect storm: every student negotiates and connects at once; its duration and the
  p50/p99 latency of `POST /classes/{id}/negotiate`;
- fan-out: p50/p99 from the tutor opening a poll to each student receiving `poll.opened`
  (several polls, every delivery counted);
- a vote burst: every student votes within one second; every vote must be acknowledged,
  the closed counts must equal the votes cast, and the time from closing the poll to the
  last student holding the final tally;
- messages lost: class messages (by `seq`) a client should have received and did not,
  and `poll.opened` / `poll.closed` messages missing at any client.

Student clients are raw aiohttp WebSockets (`json.webpubsub.azure.v1`) spread over worker
processes. Bounded: every wait has a timeout and the run stops by itself. Prints its
figures and a final JSON line.

    python bench/live_class.py                 # 1,000 students
    python bench/live_class.py --students 5000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import random
import resource
import sys
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import aiohttp

SUBPROTOCOL = "json.webpubsub.azure.v1"
SEQ_RESTART_JUMP = 10**9
DEFAULT_BASE_URL = "http://127.0.0.1:7171/api"


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- worker process: a slice of the students ---------------------------------------------------
class Student:
    def __init__(self, user_id: str, token: str) -> None:
        self.user_id = user_id
        self.token = token
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.seqs: set[int] = set()
        self.first_seq: int | None = None
        self.opened: dict[str, float] = {}
        self.closed: dict[str, tuple[float, list[int]]] = {}
        self.acks: dict[str, asyncio.Future] = {}
        self.reader: asyncio.Task | None = None
        self.ack_id = 0
        self.presence_updates = 0

    async def read(self) -> None:
        assert self.ws is not None
        async for frame in self.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            now = time.time()
            packet = json.loads(frame.data)
            data = packet.get("data")
            if packet.get("type") != "message" or not isinstance(data, dict):
                continue
            if data.get("type") == "ack":
                future = self.acks.pop(str(data.get("ref")), None)
                if future is not None and not future.done():
                    future.set_result(data)
                continue
            seq = data.get("seq")
            if isinstance(seq, int):
                self.seqs.add(seq)
                if self.first_seq is None:
                    self.first_seq = seq
            if data.get("type") == "presence.updated":
                self.presence_updates += 1
            elif data.get("type") == "poll.opened":
                self.opened[data["poll"]["id"]] = now
            elif data.get("type") == "poll.closed":
                self.closed[data["pollId"]] = (now, data["counts"])

    async def send(self, event: str, data: dict[str, Any], timeout: float) -> dict:
        assert self.ws is not None
        ref = uuid.uuid4().hex[:12]
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self.acks[ref] = future
        self.ack_id += 1
        await self.ws.send_str(json.dumps(
            {"type": "event", "event": event, "ackId": self.ack_id, "dataType": "json", "data": {**data, "ref": ref}}
        ))
        return await asyncio.wait_for(future, timeout)

    def lost(self) -> tuple[int, int]:
        """(class messages between the first and last seq seen that never arrived, seq restarts).

        A restart is the jump to the current time in ms that follows Redis losing the
        class's state: clients reload the state then, and nothing in the jump was sent.
        """
        ordered = sorted(self.seqs)
        lost = restarts = 0
        for before, after in zip(ordered, ordered[1:]):
            if after - before > SEQ_RESTART_JUMP:
                restarts += 1
            else:
                lost += after - before - 1
        return lost, restarts


async def worker_main(index: int, commands: mp.Queue, results: mp.Queue) -> None:
    raise_fd_limit()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=60))
    students: list[Student] = []
    try:
        while True:
            command = await asyncio.get_running_loop().run_in_executor(None, commands.get)
            kind = command["kind"]
            if kind == "connect":
                results.put(await connect_all(session, students, command))
            elif kind == "vote":
                results.put(await vote_all(students, command))
            elif kind == "report":
                results.put(report(students, command))
            elif kind == "stop":
                break
    finally:
        await asyncio.gather(*(s.ws.close() for s in students if s.ws is not None), return_exceptions=True)
        await session.close()
        results.put({"kind": "stopped", "worker": index})


async def connect_all(session: aiohttp.ClientSession, students: list[Student], command: dict) -> dict:
    base, class_id = command["baseUrl"], command["classId"]
    await asyncio.sleep(max(0.0, command["startAt"] - time.time()))
    gate = asyncio.Semaphore(command["concurrency"])
    negotiate_ms: list[float] = []
    failures: list[str] = []
    done_at: list[float] = []

    async def one(user_id: str, token: str) -> None:
        async with gate:
            student = Student(user_id, token)
            try:
                started = time.perf_counter()
                async with session.post(f"{base}/classes/{class_id}/negotiate",
                                        headers={"Authorization": f"Bearer {token}"}) as resp:
                    body = await resp.json()
                    if resp.status != 200:
                        raise RuntimeError(f"negotiate {resp.status}: {body}")
                negotiate_ms.append((time.perf_counter() - started) * 1000)
                student.ws = await session.ws_connect(body["url"], protocols=(SUBPROTOCOL,), heartbeat=None,
                                                      timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=10))
                first = await asyncio.wait_for(student.ws.receive(), 30)
                hello = json.loads(first.data) if first.type == aiohttp.WSMsgType.TEXT else {}
                if hello.get("event") != "connected":
                    raise RuntimeError(f"no connected message: {first.type}")
                student.reader = asyncio.get_running_loop().create_task(student.read())
                students.append(student)
                done_at.append(time.time())
            except Exception as exc:  # noqa: BLE001 - a benchmark counts failures
                failures.append(f"{type(exc).__name__}: {exc}"[:200])

    await asyncio.gather(*(one(u, t) for u, t in command["students"]))
    return {"kind": "connected", "negotiateMs": negotiate_ms, "doneAt": done_at, "failures": failures}


async def vote_all(students: list[Student], command: dict) -> dict:
    poll_id, choices, window = command["pollId"], command["choices"], command["windowSeconds"]
    rng = random.Random(command["seed"])
    start_at = command["startAt"]
    ack_ms: list[float] = []
    refused: list[str] = []

    async def one(student: Student) -> None:
        await asyncio.sleep(max(0.0, start_at + rng.random() * window - time.time()))
        started = time.perf_counter()
        try:
            ack = await student.send("vote", {"pollId": poll_id, "option": choices[student.user_id]}, timeout=30)
            ack_ms.append((time.perf_counter() - started) * 1000)
            if not ack.get("ok"):
                refused.append(str(ack.get("reason")))
        except Exception as exc:  # noqa: BLE001
            refused.append(type(exc).__name__)

    await asyncio.gather(*(one(s) for s in students))
    return {"kind": "voted", "ackMs": ack_ms, "refused": refused, "ackedBy": time.time()}


def report(students: list[Student], command: dict) -> dict:
    return {
        "kind": "report",
        "opened": {p: [s.opened.get(p) for s in students] for p in command["pollIds"]},
        "closed": {p: [s.closed.get(p, (None, None)) for s in students] for p in command["pollIds"]},
        "lost": sum(s.lost()[0] for s in students),
        "restarts": sum(s.lost()[1] for s in students),
        "clients": len(students),
        "presenceUpdates": max((s.presence_updates for s in students), default=0),
        "open": sum(1 for s in students if s.ws is not None and not s.ws.closed),
    }


def run_worker(index: int, commands: mp.Queue, results: mp.Queue) -> None:
    asyncio.run(worker_main(index, commands, results))


# --- the coordinator ---------------------------------------------------------------------------
async def api(session: aiohttp.ClientSession, method: str, url: str, token: str | None = None, body: Any = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, url, json=body, headers=headers) as resp:
        data = await resp.json(content_type=None)
        if resp.status >= 400:
            raise RuntimeError(f"{method} {url} → {resp.status}: {data}")
        return data


async def make_students(session: aiohttp.ClientSession, base: str, course_id: str, count: int) -> list[tuple[str, str]]:
    gate = asyncio.Semaphore(48)
    run = uuid.uuid4().hex[:6]

    async def one(i: int) -> tuple[str, str]:
        async with gate:
            grant = await api(session, "POST", f"{base}/dev/token", body={"name": f"bench-{run}-{i:05d}", "roles": ["student"]})
            await api(session, "POST", f"{base}/courses/{course_id}/enrollments", grant["token"], {})
            return grant["userId"], grant["token"]

    return list(await asyncio.gather(*(one(i) for i in range(count))))


def gather_results(results: mp.Queue, kind: str, workers: int, timeout: float) -> list[dict]:
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(out) < workers:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"workers did not answer '{kind}' within {timeout:.0f} s")
        message = results.get(timeout=remaining)
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


async def coordinate(args: argparse.Namespace) -> dict:
    base = args.base_url.rstrip("/")
    rng = random.Random(args.seed)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64), timeout=aiohttp.ClientTimeout(total=60))
    ctx = mp.get_context("spawn")
    commands = [ctx.Queue() for _ in range(args.workers)]
    results = ctx.Queue()
    procs = [ctx.Process(target=run_worker, args=(i, commands[i], results), daemon=True) for i in range(args.workers)]
    for p in procs:
        p.start()
    figures: dict[str, Any] = {"students": args.students, "workers": args.workers, "seed": args.seed}
    try:
        print(f"… setting up: a tutor, a course, a class, {args.students} enrolled students", flush=True)
        setup_started = time.monotonic()
        tutor = await api(session, "POST", f"{base}/dev/token", body={"name": "Bench tutor", "roles": ["tutor"]})
        course = await api(session, "POST", f"{base}/courses", tutor["token"], {"title": "Bench course", "description": "bench"})
        await api(session, "PATCH", f"{base}/courses/{course['id']}", tutor["token"], {"published": True})
        klass = await api(session, "POST", f"{base}/classes", tutor["token"],
                          {"courseId": course["id"], "title": "Bench class", "scheduledAt": datetime.now(timezone.utc).isoformat()})
        await api(session, "POST", f"{base}/classes/{klass['id']}/start", tutor["token"])
        students = await make_students(session, base, course["id"], args.students)
        figures["setupSeconds"] = round(time.monotonic() - setup_started, 1)

        # Connect storm.
        print(f"… connect storm: {args.students} students negotiate and connect at once", flush=True)
        start_at = time.time() + 1.0
        for i in range(args.workers):
            commands[i].put({"kind": "connect", "baseUrl": base, "classId": klass["id"], "startAt": start_at,
                             "students": students[i :: args.workers], "concurrency": args.concurrency})
        connected = gather_results(results, "connected", args.workers, args.timeout)
        negotiate_ms = [v for r in connected for v in r["negotiateMs"]]
        failures = [f for r in connected for f in r["failures"]]
        done_at = [v for r in connected for v in r["doneAt"]]
        figures["connected"] = len(done_at)
        figures["connectFailures"] = len(failures)
        figures["connectStormSeconds"] = round(max(done_at) - start_at, 2) if done_at else None
        figures["negotiateP50Ms"] = round(percentile(negotiate_ms, 50), 1)
        figures["negotiateP99Ms"] = round(percentile(negotiate_ms, 99), 1)
        if failures:
            print("  failures (first 3):", failures[:3])

        async def presence_is_full() -> bool:
            state = await api(session, "GET", f"{base}/classes/{klass['id']}/state", tutor["token"])
            return state["presenceCount"] >= len(done_at)

        figures["presenceSettled"] = await wait_until(presence_is_full, 30, 0.25)

        # Fan-out: the tutor opens polls; how long until each student has poll.opened.
        poll_ids: list[str] = []
        post_times: dict[str, float] = {}
        for round_no in range(args.polls):
            sent = time.time()
            poll = await api(session, "POST", f"{base}/classes/{klass['id']}/polls", tutor["token"],
                             {"question": f"Fan-out {round_no}", "options": ["a", "b", "c", "d"]})
            post_times[poll["id"]] = sent
            poll_ids.append(poll["id"])
            await asyncio.sleep(1.0)
            await api(session, "POST", f"{base}/classes/{klass['id']}/polls/{poll['id']}/close", tutor["token"])
            await asyncio.sleep(0.5)

        # Vote burst: every student votes within one second.
        print(f"… vote burst: {len(done_at)} votes within {args.vote_window} s", flush=True)
        vote_poll = await api(session, "POST", f"{base}/classes/{klass['id']}/polls", tutor["token"],
                              {"question": "Burst", "options": ["a", "b", "c", "d"]})
        poll_ids.append(vote_poll["id"])
        post_times[vote_poll["id"]] = time.time()
        await asyncio.sleep(1.5)
        choices = {user_id: rng.randrange(4) for user_id, _ in students}
        burst_at = time.time() + 0.5
        for i in range(args.workers):
            commands[i].put({"kind": "vote", "pollId": vote_poll["id"], "choices": choices, "windowSeconds": args.vote_window,
                             "startAt": burst_at, "seed": args.seed + i})
        voted = gather_results(results, "voted", args.workers, args.timeout)
        refused = [r for v in voted for r in v["refused"]]
        ack_ms = [a for v in voted for a in v["ackMs"]]
        figures["votesAcked"] = len(ack_ms) - len(refused)
        figures["votesRefused"] = len(refused)
        if refused:
            print("  refused votes by reason:", {r: refused.count(r) for r in sorted(set(refused))})
        figures["lastVoteAckedSeconds"] = round(max(v["ackedBy"] for v in voted) - burst_at, 2)
        figures["voteAckP50Ms"] = round(percentile(ack_ms, 50), 1)
        figures["voteAckP99Ms"] = round(percentile(ack_ms, 99), 1)
        closed_sent = time.time()
        closed = await api(session, "POST", f"{base}/classes/{klass['id']}/polls/{vote_poll['id']}/close", tutor["token"])
        figures["closedTotal"] = closed["total"]
        figures["closeRequestMs"] = round((time.time() - closed_sent) * 1000, 1)
        await asyncio.sleep(2.0)

        for i in range(args.workers):
            commands[i].put({"kind": "report", "pollIds": poll_ids})
        reports = gather_results(results, "report", args.workers, args.timeout)

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
                    elif poll_id == vote_poll["id"]:
                        final_ms.append((received - closed_sent) * 1000)
                        if counts != closed["counts"]:
                            wrong_tally += 1
        figures["pollOpenedP50Ms"] = round(percentile(fanout_ms, 50), 1)
        figures["pollOpenedP99Ms"] = round(percentile(fanout_ms, 99), 1)
        figures["pollOpenedDeliveries"] = len(fanout_ms)
        figures["finalTallyP50Ms"] = round(percentile(final_ms, 50), 1)
        figures["finalTallyMaxMs"] = round(max(final_ms), 1) if final_ms else None
        figures["finalTallyWrongAtClients"] = wrong_tally
        figures["votesCountedExactly"] = closed["total"] == figures["votesAcked"]
        figures["messagesLost"] = sum(r["lost"] for r in reports) + missing_opened + missing_closed
        figures["seqRestartsSeen"] = sum(r["restarts"] for r in reports)
        figures["clientsStillConnected"] = sum(r["open"] for r in reports)
        figures["presenceUpdatesAtOneClient"] = max(r["presenceUpdates"] for r in reports)
        await api(session, "POST", f"{base}/classes/{klass['id']}/end", tutor["token"])
    finally:
        for q in commands:
            q.put({"kind": "stop"})
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
        await session.close()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description="Live class benchmark: connections, fan-out, vote burst, losses.")
    parser.add_argument("--students", type=int, default=1000, choices=(1000, 5000), help="student connections")
    parser.add_argument("--base-url", default=DEFAULT_BASE_URL)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=250, help="connects in flight per worker")
    parser.add_argument("--polls", type=int, default=5, help="polls opened to measure fan-out")
    parser.add_argument("--vote-window", type=float, default=1.0, help="seconds over which every student votes")
    parser.add_argument("--seed", type=int, default=20260301)
    parser.add_argument("--timeout", type=float, default=300, help="bound of every phase, seconds")
    args = parser.parse_args()
    raise_fd_limit()
    figures = asyncio.run(coordinate(args))
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"  {key:<{width}}  {value}")
    print(json.dumps({"benchmark": "live_class", **figures}))
    ok = figures["messagesLost"] == 0 and figures["votesCountedExactly"] and figures["connectFailures"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
