"""The comparison peer: a live-class server built the classic way, for benchmarks only.

Users choosing a live-class backend compare Lectern with the usual design: WebSocket
servers (here python-socketio on aiohttp, websocket transport only) that share rooms
through Redis pub/sub (`socketio.AsyncRedisManager`). This server does the same live-class
work the benchmark asks of Lectern, and no more, so the two can be driven by one client
workload:

- connect: the client's JWT (HS256, the benchmark's own secret) is checked, the user must
  be a member of the class (a Redis set), and the connection joins room `class.{classId}`;
  presence is a Redis set whose size goes out as `presence.updated`, at most once per
  250 ms per class (a Redis `SET NX PX` claim, like Lectern's throttle);
- `POST /classes/{id}/polls` opens a poll and broadcasts `poll.opened`;
- the `vote` event counts a vote once per student in Redis (one Lua script) and answers
  with a Socket.IO acknowledgement; `poll.tally` is throttled like presence;
- `POST /classes/{id}/polls/{pollId}/close` freezes the poll and broadcasts `poll.closed`
  with the counts from Redis;
- the `chat` event is rate-limited, kept in a capped Redis list and broadcast.

Every broadcast carries the class's next `seq` (one Redis INCR), in Lectern's envelope
`{type, classId, seq, at, ...}`, sent as Socket.IO event `message`. What it leaves out
compared with Lectern (no PostgreSQL writes, no audit, no attendance log) is listed in
docs/BENCHMARKS.md; it is the lighter design by construction.

    python bench/peer/server.py --port 7301 --redis redis://127.0.0.1:6379/13 --secret S

Several processes on consecutive ports form one cluster through Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import jwt
import socketio
from aiohttp import web
from redis import asyncio as aioredis

THROTTLE_MS = 250
CHAT_LIMIT_PER_10S = 5
RECENT_CHAT = 50
AUDIENCE = "lectern-bench-peer"

# Counts a vote once per student while the poll is open: -1 closed/unknown, -2 bad option,
# 0 already voted, 1 counted.
VOTE_SCRIPT = """
if redis.call('HGET', KEYS[1], 'status') ~= 'open' then return -1 end
local n = tonumber(redis.call('HGET', KEYS[1], 'options'))
local option = tonumber(ARGV[2])
if option == nil or option < 0 or option >= n then return -2 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'c' .. ARGV[2], 1)
return 1
"""

# Freezes the poll and returns its counts in option order (empty when there is no such poll).
CLOSE_SCRIPT = """
local n = tonumber(redis.call('HGET', KEYS[1], 'options'))
if n == nil then return {} end
redis.call('HSET', KEYS[1], 'status', 'closed')
local counts = {}
for i = 0, n - 1 do counts[#counts + 1] = tonumber(redis.call('HGET', KEYS[1], 'c' .. i) or '0') end
return counts
"""


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Keys:
    """Every Redis key the peer uses, in one place; one class's keys share a hash tag."""

    def __init__(self, class_id: str) -> None:
        self.base = f"peer:{{{class_id}}}"
        self.seq = f"{self.base}:seq"
        self.members = f"{self.base}:members"
        self.present = f"{self.base}:present"
        self.open_poll = f"{self.base}:open-poll"
        self.chat = f"{self.base}:chat"

    def poll(self, poll_id: str) -> str:
        return f"{self.base}:poll:{poll_id}"

    def voters(self, poll_id: str) -> str:
        return f"{self.base}:poll:{poll_id}:voters"

    def throttle(self, kind: str) -> str:
        return f"{self.base}:throttle:{kind}"

    def chat_rate(self, user_id: str) -> str:
        return f"{self.base}:chat-rate:{user_id}"


class Peer:
    def __init__(self, redis_url: str, secret: str) -> None:
        self.secret = secret
        # A burst waits briefly for a pooled connection rather than failing (as Lectern's client does).
        pool = aioredis.BlockingConnectionPool.from_url(redis_url, decode_responses=True, max_connections=200, timeout=5)
        self.redis = aioredis.Redis(connection_pool=pool)
        manager = socketio.AsyncRedisManager(redis_url, channel="peer-live")
        self.sio = socketio.AsyncServer(
            async_mode="aiohttp", client_manager=manager, transports=["websocket"],
            cors_allowed_origins=None, logger=False, engineio_logger=False,
        )
        self.vote_script = self.redis.register_script(VOTE_SCRIPT)
        self.close_script = self.redis.register_script(CLOSE_SCRIPT)
        # Broadcasts already scheduled in this process: no second Redis claim while one waits.
        self.pending: set[tuple[str, str]] = set()
        self.sio.on("connect", self.on_connect)
        self.sio.on("disconnect", self.on_disconnect)
        self.sio.on("vote", self.on_vote)
        self.sio.on("chat", self.on_chat)

    # --- broadcasting -----------------------------------------------------------------------
    async def broadcast(self, class_id: str, kind: str, **fields: Any) -> int:
        at = int(time.time() * 1000)
        seq = int(await self.redis.incr(Keys(class_id).seq))
        await self.sio.emit("message", {"type": kind, "classId": class_id, "seq": seq, "at": iso_ms(at), **fields},
                            room=f"class.{class_id}")
        return seq

    def throttled(self, class_id: str, kind: str) -> None:
        """At most one `kind` broadcast per class per THROTTLE_MS, across processes."""
        if (class_id, kind) in self.pending:
            return
        self.pending.add((class_id, kind))
        asyncio.get_running_loop().create_task(self._throttled(class_id, kind))

    async def _throttled(self, class_id: str, kind: str) -> None:
        try:
            claimed = await self.redis.set(Keys(class_id).throttle(kind), "1", nx=True, px=THROTTLE_MS)
            await asyncio.sleep(THROTTLE_MS / 1000)
            if not claimed:
                return
            keys = Keys(class_id)
            if kind == "presence":
                count = int(await self.redis.scard(keys.present))
                await self.broadcast(class_id, "presence.updated", presenceCount=count)
            elif kind == "tally":
                poll_id = await self.redis.get(keys.open_poll)
                if poll_id:
                    counts = await self._counts(keys, poll_id)
                    await self.broadcast(class_id, "poll.tally", pollId=poll_id, counts=counts, total=sum(counts))
        finally:
            self.pending.discard((class_id, kind))

    async def _counts(self, keys: Keys, poll_id: str) -> list[int]:
        """The live tally in option order."""
        options = int(await self.redis.hget(keys.poll(poll_id), "options") or 0)
        values = await self.redis.hmget(keys.poll(poll_id), [f"c{i}" for i in range(options)]) if options else []
        return [int(v or 0) for v in values]

    # --- Socket.IO events -------------------------------------------------------------------
    async def on_connect(self, sid: str, environ: dict, auth: Any) -> None:
        auth = auth if isinstance(auth, dict) else {}
        try:
            claims = jwt.decode(str(auth.get("token", "")), self.secret, algorithms=["HS256"], audience=AUDIENCE)
        except jwt.PyJWTError:
            raise socketio.exceptions.ConnectionRefusedError("unauthorized") from None
        class_id = str(auth.get("classId", ""))
        keys = Keys(class_id)
        if not await self.redis.sismember(keys.members, claims["sub"]):
            raise socketio.exceptions.ConnectionRefusedError("not a member of this class")
        await self.sio.save_session(sid, {"userId": claims["sub"], "name": claims.get("name", ""), "classId": class_id})
        await self.sio.enter_room(sid, f"class.{class_id}")
        await self.redis.sadd(keys.present, claims["sub"])
        self.throttled(class_id, "presence")

    async def on_disconnect(self, sid: str, *reason: Any) -> None:
        try:
            session = await self.sio.get_session(sid)
        except KeyError:
            return
        await self.redis.srem(Keys(session["classId"]).present, session["userId"])
        self.throttled(session["classId"], "presence")

    async def on_vote(self, sid: str, data: Any) -> dict:
        session = await self.sio.get_session(sid)
        data = data if isinstance(data, dict) else {}
        ref = data.get("ref")
        keys = Keys(session["classId"])
        poll_id = str(data.get("pollId", ""))
        result = int(await self.vote_script(keys=[keys.poll(poll_id), keys.voters(poll_id)],
                                            args=[session["userId"], str(data.get("option"))]))
        if result < 0:
            return {"ok": False, "ref": ref, "reason": "poll-closed" if result == -1 else "invalid-option"}
        if result == 1:
            self.throttled(session["classId"], "tally")
        return {"ok": True, "ref": ref, "pollId": poll_id}

    async def on_chat(self, sid: str, data: Any) -> dict:
        session = await self.sio.get_session(sid)
        data = data if isinstance(data, dict) else {}
        ref = data.get("ref")
        text = str(data.get("text", "")).strip()[:1000]
        if not text:
            return {"ok": False, "ref": ref, "reason": "empty"}
        keys = Keys(session["classId"])
        rate_key = keys.chat_rate(session["userId"])
        message_id = str(uuid.uuid4())
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.incr(rate_key)
            pipe.pexpire(rate_key, 10_000, nx=True)
            pipe.lpush(keys.chat, f"{message_id}\t{session['userId']}\t{text}")
            pipe.ltrim(keys.chat, 0, RECENT_CHAT - 1)
            sent, *_ = await pipe.execute()
        if int(sent) > CHAT_LIMIT_PER_10S:
            return {"ok": False, "ref": ref, "reason": "rate-limited"}
        seq = await self.broadcast(session["classId"], "chat.message", id=message_id, userId=session["userId"],
                                   userName=session["name"], text=text)
        return {"ok": True, "ref": ref, "seq": seq, "messageId": message_id}

    # --- REST -------------------------------------------------------------------------------
    def tutor(self, request: web.Request) -> dict:
        header = request.headers.get("Authorization", "")
        try:
            claims = jwt.decode(header.removeprefix("Bearer "), self.secret, algorithms=["HS256"], audience=AUDIENCE)
        except jwt.PyJWTError:
            raise web.HTTPUnauthorized() from None
        if claims.get("role") != "tutor":
            raise web.HTTPForbidden()
        return claims

    async def put_class(self, request: web.Request) -> web.Response:
        """Sets up a class and its members (the benchmark's setup; Lectern's is its enrolment API)."""
        self.tutor(request)
        keys = Keys(request.match_info["classId"])
        members = (await request.json())["members"]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.delete(keys.members)
            for start in range(0, len(members), 1000):
                pipe.sadd(keys.members, *members[start : start + 1000])
            await pipe.execute()
        return web.json_response({"members": len(members)})

    async def open_poll(self, request: web.Request) -> web.Response:
        self.tutor(request)
        class_id = request.match_info["classId"]
        body = await request.json()
        options = [str(o) for o in body["options"]]
        poll_id = str(uuid.uuid4())
        keys = Keys(class_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(keys.poll(poll_id), mapping={"status": "open", "options": len(options), "question": body["question"]})
            pipe.set(keys.open_poll, poll_id)
            await pipe.execute()
        poll = {"id": poll_id, "question": body["question"], "options": options, "status": "open"}
        await self.broadcast(class_id, "poll.opened", poll=poll)
        return web.json_response(poll, status=201)

    async def close_poll(self, request: web.Request) -> web.Response:
        self.tutor(request)
        class_id, poll_id = request.match_info["classId"], request.match_info["pollId"]
        keys = Keys(class_id)
        counts = [int(c) for c in await self.close_script(keys=[keys.poll(poll_id)])]
        if not counts:
            raise web.HTTPNotFound()
        await self.redis.delete(keys.open_poll)
        await self.broadcast(class_id, "poll.closed", pollId=poll_id, counts=counts, total=sum(counts))
        return web.json_response({"id": poll_id, "status": "closed", "counts": counts, "total": sum(counts)})

    async def state(self, request: web.Request) -> web.Response:
        keys = Keys(request.match_info["classId"])
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.seq)
            pipe.scard(keys.present)
            seq, present = await pipe.execute()
        return web.json_response({"seq": int(seq or 0), "presenceCount": int(present)})

    async def health(self, request: web.Request) -> web.Response:
        await self.redis.ping()
        return web.json_response({"status": "ok"})

    def app(self) -> web.Application:
        app = web.Application()
        self.sio.attach(app)
        app.router.add_get("/health", self.health)
        app.router.add_put("/classes/{classId}", self.put_class)
        app.router.add_post("/classes/{classId}/polls", self.open_poll)
        app.router.add_post("/classes/{classId}/polls/{pollId}/close", self.close_poll)
        app.router.add_get("/classes/{classId}/state", self.state)
        return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Classic live-class server (Socket.IO + Redis manager), for benchmarks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7301)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--secret", required=True, help="HS256 key of the benchmark's tokens")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    peer = Peer(args.redis, args.secret)
    web.run_app(peer.app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
