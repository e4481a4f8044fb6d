"""Sending the script calls of concurrent requests as one pipeline.

Used wherever a hot path makes one small script call per request (heartbeats, rate
limits): under load the client-side cost of a round trip (encoding, a socket write, a
wake-up) is most of such a call, and a pipeline pays it once for the whole batch.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError


class ScriptBatcher:
    """Sends the script calls of concurrent requests as pipelines: one write and one round
    trip for many calls, which under load is most of a heartbeat's client-side cost.

    At most `max_in_flight` pipelines are out at once; calls that arrive meanwhile wait for
    the next one, so the busier the process, the larger the batches (and the cheaper each
    call), at the price of at most one Redis round trip of waiting. Each call is still sent
    after its caller asked, and keeps its own keys (one slot), so this works on a cluster.
    """

    def __init__(self, r: aioredis.Redis, script: str, *, max_batch: int = 512, max_in_flight: int = 1) -> None:
        self._redis = r
        self._script = script
        self._sha = hashlib.sha1(script.encode()).hexdigest()
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._in_flight = 0
        self._pending: list[tuple[list[str], list[str | int], asyncio.Future[Any]]] = []
        self._scheduled = False

    async def call(self, names: list[str], args: list[str | int]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((names, args, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        while self._pending and self._in_flight < self._max_in_flight:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            self._in_flight += 1
            asyncio.ensure_future(self._send(batch))

    def _sent(self) -> None:
        self._in_flight -= 1
        if self._pending and not self._scheduled:
            self._flush()

    async def _execute(self, batch: list[tuple[list[str], list[str | int], asyncio.Future[Any]]]) -> list[Any]:
        pipe = self._redis.pipeline(transaction=False)
        for names, args, _ in batch:
            pipe.evalsha(self._sha, len(names), *names, *args)
        return await pipe.execute(raise_on_error=False)

    async def _send(self, batch: list[tuple[list[str], list[str | int], asyncio.Future[Any]]]) -> None:
        try:
            await self._answer(batch)
        finally:
            self._sent()

    async def _answer(self, batch: list[tuple[list[str], list[str | int], asyncio.Future[Any]]]) -> None:
        try:
            replies = await self._execute(batch)
            if any(isinstance(r, NoScriptError) for r in replies):
                # A restarted or failed-over Redis forgot the script: load it and send again.
                await self._redis.script_load(self._script)
                replies = await self._execute(batch)
        except BaseException as exc:  # noqa: BLE001 - every waiter must learn the outcome
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (*_, future), reply in zip(batch, replies):
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)
