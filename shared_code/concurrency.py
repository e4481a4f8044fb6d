"""The process's tools for sharing work between concurrent requests, and for not waiting
on a dependency that just failed.

- `SingleFlight`: concurrent misses of the same key share one load.
- `Breaker`: after a Redis error, skip Redis for a moment instead of waiting on it per request.
- `ScriptBatcher`: the script calls of concurrent requests go out as one pipeline.
- `ReadBatcher`: the MGETs (and short script calls) of concurrent requests go out as one pipeline.
- `WriteBatcher`: the writes concurrent requests submit together are handed on as one batch
  (votes: one PostgreSQL statement for the votes of a poll that arrive together).
- `BackgroundTasks`: work started off a request's critical path, held and awaited together.

Each is built once per process by `shared_code/bootstrap.py` and reached through the
context; nothing here keeps state at module level. The batchers exist because under
load the client-side cost of a round trip (encoding, a socket write, a wake-up) is most of
a small call, and a pipeline pays it once for the whole batch.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from shared_code import metrics
from shared_code.pipelining import BatchScript, round_trip

logger = logging.getLogger("lectern.concurrency")


class SingleFlight:
    """At most one load per key in this process; concurrent callers await the same task.

    The load runs as its own task, so a caller that is cancelled (its client went away)
    does not cancel the load the others are waiting for.
    """

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task[Any]] = {}

    async def run[T](self, key: str, load: Callable[[], Awaitable[T]]) -> T:
        task = self._running.get(key)
        if task is None or task.get_loop() is not asyncio.get_running_loop():
            task = asyncio.ensure_future(load())
            self._running[key] = task
            task.add_done_callback(functools.partial(self._finished, key))
        return await asyncio.shield(task)

    def _finished(self, key: str, task: asyncio.Task[Any]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if not task.cancelled():
            task.exception()  # retrieved here, so a failure nobody awaited is not logged as lost

    def forget(self, *prefixes: str) -> None:
        """Later callers of keys starting with a prefix start a new load (after a write this process made)."""
        for key in [k for k in self._running if k.startswith(prefixes)]:
            del self._running[key]

    def __len__(self) -> int:
        return len(self._running)


class Breaker:
    """After a Redis error, skip Redis for a moment instead of waiting on it per request."""

    def __init__(self, cooldown_seconds: float) -> None:
        self.cooldown_seconds = cooldown_seconds
        self._open_until = 0.0

    @property
    def closed(self) -> bool:
        return time.monotonic() >= self._open_until

    def trip(self, what: str, exc: BaseException) -> None:
        if self.closed:
            logger.warning("redis unavailable during %s, serving from PostgreSQL: %s", what, type(exc).__name__)
        self._open_until = time.monotonic() + self.cooldown_seconds

    def reset(self) -> None:
        self._open_until = 0.0


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
        # The queueing and answering are the write batcher's; a batch here is one pipeline.
        self._calls: WriteBatcher[tuple[list[str], list[str | int]], Any] = WriteBatcher(
            self._run, max_batch=max_batch, max_in_flight=max_in_flight
        )

    async def call(self, names: list[str], args: list[str | int]) -> Any:
        return await self._calls.submit((names, args))

    async def _execute(self, calls: list[tuple[list[str], list[str | int]]]) -> list[Any]:
        return await round_trip(self._redis, [("EVALSHA", self._sha, len(names), *names, *args) for names, args in calls])

    async def _run(self, calls: list[tuple[list[str], list[str | int]]]) -> list[Any]:
        """Each call's reply, an error reply as that call's exception."""
        replies = await self._execute(calls)
        if any(isinstance(r, NoScriptError) for r in replies):
            # A restarted or failed-over Redis forgot the script: load it and send again.
            await self._redis.script_load(self._script)
            replies = await self._execute(calls)
        return replies


def hash_tag(name: str) -> str:
    """The part of a key Redis Cluster hashes: the text in its first `{...}`, else the whole key."""
    start = name.find("{")
    if start >= 0:
        end = name.find("}", start + 1)
        if end > start + 1:
            return name[start + 1 : end]
    return name


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def quiet[T](future: asyncio.Future[T]) -> asyncio.Future[T]:
    """`future`, whose failure is not reported as never retrieved when nobody awaits it (a
    read started for a request that was refused before it needed the answer)."""
    future.add_done_callback(_retrieve)
    return future


class ReadBatcher:
    """Coalesces the MGETs, and the short script calls, that concurrent requests issue in
    the same moment into one pipeline.

    Under load, dozens of requests want their few keys at once. Requests whose keys share
    a hash tag (the same course) are merged into one MGET of the distinct keys, and the
    MGETs of different tags go out as one pipeline: one round trip and a fraction of the
    client work of one call each. Script calls submitted in the same moment (the request
    rate limits) ride the same pipeline, so a request's limits, its caller's stored roles
    and the cache entries its relation needs cost one round trip together. Every call is
    still sent after its caller asked, so nothing read is older than the request, and each
    MGET and script call stays within one hash slot, so this works on a cluster too.

    `submit` and `submit_script` queue the call and return its future at once (no task per
    call): a caller can start several and then wait for them, all answered by one round trip.
    """

    def __init__(self, r: aioredis.Redis, *, max_batch: int = 256) -> None:
        self._redis = r
        self._max_batch = max_batch
        self._pending: list[tuple[list[str], asyncio.Future[list[str | None]]]] = []
        self._scripts: list[tuple[BatchScript, list[str], list[str | int], asyncio.Future[Any]]] = []
        self._scheduled = False

    async def read(self, names: list[str]) -> list[str | None]:
        return await self.submit(names)

    def submit(self, names: list[str]) -> asyncio.Future[list[str | None]]:
        """Queues an MGET of `names` (one hash slot); its future answers the values in order."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[str | None]] = loop.create_future()
        self._pending.append((names, future))
        self._schedule(loop)
        return future

    def submit_script(self, script: BatchScript, names: list[str], args: list[str | int]) -> asyncio.Future[Any]:
        """Queues one call of `script` on `names` (one hash slot); its future answers the reply."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._scripts.append((script, names, args, future))
        self._schedule(loop)
        return future

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if len(self._pending) + len(self._scripts) >= self._max_batch:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        scripts, self._scripts = self._scripts, []
        if batch or scripts:
            asyncio.ensure_future(self._send(batch, scripts))

    async def _send(
        self,
        batch: list[tuple[list[str], asyncio.Future[list[str | None]]]],
        scripts: list[tuple[BatchScript, list[str], list[str | int], asyncio.Future[Any]]],
    ) -> None:
        groups: dict[str, dict[str, int]] = {}
        for names, _ in batch:
            group = groups.setdefault(hash_tag(names[0]), {})
            for name in names:
                if name not in group:
                    group[name] = len(group)
        try:
            if len(groups) == 1 and not scripts:
                (only,) = groups.values()
                # The client decodes replies (decode_responses=True): values are str, not bytes.
                replies: list[Any] = [cast("list[str | None]", await self._redis.mget(list(only)))]
            else:
                replies = await self._execute(groups, scripts)
        except BaseException as exc:  # noqa: BLE001 - every waiter must learn the outcome
            for future in [f for _, f in batch] + [call[3] for call in scripts]:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        values = dict(zip(groups, replies, strict=False))
        if metrics.enabled() and groups:
            read = [reply for reply in replies[: len(groups)] if isinstance(reply, list)]
            misses = sum(v is None for reply in read for v in reply)
            metrics.cache_reads(sum(len(reply) for reply in read) - misses, misses)
        for names, future in batch:
            tag = hash_tag(names[0])
            group, reply = groups[tag], values[tag]
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result([reply[group[name]] for name in names])
        for (_, _, _, future), reply in zip(scripts, replies[len(groups):], strict=True):
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _execute(
        self, groups: dict[str, dict[str, int]], scripts: list[tuple[BatchScript, list[str], list[str | int], Any]]
    ) -> list[Any]:
        """The MGETs' replies, then the scripts', an error reply as that call's exception."""
        commands: list[tuple[str | int, ...]] = [("MGET", *group) for group in groups.values()]
        commands.extend(("EVALSHA", script.sha, len(names), *names, *args) for script, names, args, _ in scripts)
        replies = await round_trip(self._redis, commands)
        forgotten = [i for i, r in enumerate(replies[len(groups):]) if isinstance(r, NoScriptError)]
        if forgotten:
            # A restarted or failed-over Redis forgot a script: load it and send those calls again.
            for script in {scripts[i][0] for i in forgotten}:
                await self._redis.script_load(script.source)
            again = [commands[len(groups) + i] for i in forgotten]
            for i, reply in zip(forgotten, await round_trip(self._redis, again), strict=True):
                replies[len(groups) + i] = reply
        return replies


class WriteBatcher[T, R]:
    """Hands the items concurrent callers submit in the same moment to `send` as one list,
    and each caller the answer `send` gives for its item (an exception answered for an item
    is raised to its caller; one raised by `send` to every caller of the batch).

    As with `ScriptBatcher`, at most `max_in_flight` batches are out at once and items that
    arrive meanwhile wait for the next one, so batches grow with the load; an item is still
    sent only after its caller submitted it, so nothing is acknowledged before it is written.
    """

    def __init__(
        self, send: Callable[[list[T]], Awaitable[list[R | Exception]]], *, max_batch: int = 512,
        max_in_flight: int = 2,
    ) -> None:
        self._send_batch = send
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._in_flight = 0
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._scheduled = False

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
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

    async def _send(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            try:
                answers = await self._send_batch([item for item, _ in batch])
            except BaseException as exc:  # noqa: BLE001 - every waiter must learn the outcome
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                return
            for (_, future), answer in zip(batch, answers, strict=True):
                if future.done():
                    continue
                if isinstance(answer, Exception):  # that item's own failure
                    future.set_exception(answer)
                else:
                    future.set_result(answer)
        finally:
            self._in_flight -= 1
            if self._pending and not self._scheduled:
                self._flush()


class BackgroundTasks:
    """Tasks started off a request's critical path (deferred effects, releasing an ended
    class's connections): held by strong references so the event loop does not collect them
    mid-flight, and awaited together at shutdown and by tests."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self) -> None:
        """Waits until no task is left (tasks started meanwhile included). A finished task
        is let go here, not gathered: its done-callback (which removes it) may still be
        queued, and from Python 3.12 `gather` of finished tasks completes without yielding
        to the loop, so the callback would never run and this loop would spin."""
        while self._tasks:
            self._tasks.difference_update([task for task in self._tasks if task.done()])
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def __len__(self) -> int:
        return len(self._tasks)
