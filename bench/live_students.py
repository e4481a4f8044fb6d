"""The live-class benchmark's students: one worker process holds a slice of the class's
WebSocket connections (the `json.webpubsub.azure.v1` subprotocol on Lectern, Engine.IO 4 /
Socket.IO 5 on the peer), connects, chats and votes on the coordinator's command and
reports what each student received.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import random
import time
import uuid
from typing import Any

import aiohttp

from common import raise_fd_limit

SUBPROTOCOL = "json.webpubsub.azure.v1"
SEQ_RESTART_JUMP = 10**9
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
