"""Redis operations of the content metadata cache: generations, entries, fill locks.

The service layer (`services/content_cache.py`) decides what to cache and when; this
module only knows how each operation is spelled in Redis. Errors propagate as
`redis.exceptions.RedisError` so the caller can fall back to PostgreSQL.
"""

from __future__ import annotations

import asyncio
import secrets

import redis.asyncio as aioredis

from shared_code.adapters.redis import keys, locks

GENERATION_TTL_SECONDS = 7 * 24 * 3600


def new_token() -> str:
    return secrets.token_hex(8)


def hash_tag(name: str) -> str:
    """The part of a key Redis Cluster hashes: the text in its first `{...}`, else the whole key."""
    start = name.find("{")
    if start >= 0:
        end = name.find("}", start + 1)
        if end > start + 1:
            return name[start + 1 : end]
    return name


class ReadBatcher:
    """Coalesces the MGETs that concurrent requests issue in the same moment.

    Under load, dozens of requests want their few keys at once. Requests whose keys share
    a hash tag (the same course) are merged into one MGET of the distinct keys, and the
    MGETs of different tags go out as one pipeline: one round trip and a fraction of the
    client work of one call each. Every read is still sent after its caller asked, so
    nothing read is older than the request, and each MGET stays within one hash slot, so
    this works on a cluster too.
    """

    def __init__(self, r: aioredis.Redis, *, max_batch: int = 256) -> None:
        self._redis = r
        self._max_batch = max_batch
        self._pending: list[tuple[list[str], asyncio.Future[list[str | None]]]] = []
        self._scheduled = False

    async def read(self, names: list[str]) -> list[str | None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[str | None]] = loop.create_future()
        self._pending.append((names, future))
        if len(self._pending) >= self._max_batch:
            self._flush()
        elif not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        if batch:
            asyncio.ensure_future(self._send(batch))

    async def _send(self, batch: list[tuple[list[str], asyncio.Future[list[str | None]]]]) -> None:
        groups: dict[str, dict[str, int]] = {}
        for names, _ in batch:
            for name in names:
                group = groups.setdefault(hash_tag(names[0]), {})
                if name not in group:
                    group[name] = len(group)
        try:
            if len(groups) == 1:
                (only,) = groups.values()
                replies = [await self._redis.mget(list(only))]
            else:
                pipe = self._redis.pipeline(transaction=False)
                for group in groups.values():
                    pipe.mget(list(group))
                replies = await pipe.execute()
        except BaseException as exc:  # noqa: BLE001 - every waiter must learn the outcome
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        values = dict(zip(groups, replies))
        for names, future in batch:
            tag = hash_tag(names[0])
            group, reply = groups[tag], values[tag]
            if not future.done():
                future.set_result([reply[group[name]] for name in names])


async def get(r: aioredis.Redis, name: str) -> str | None:
    return await r.get(name)


async def store(r: aioredis.Redis, entries: dict[str, str], ttl_seconds: int) -> None:
    """Writes entries with a TTL in one pipelined round trip."""
    pipe = r.pipeline(transaction=False)
    for name, value in entries.items():
        pipe.set(name, value, ex=ttl_seconds)
    await pipe.execute()


async def current_generation(r: aioredis.Redis, course_id: str) -> str:
    """The course's generation, creating one when none exists (a fresh token matches no old entry)."""
    name = keys.content_generation(course_id)
    fresh = new_token()
    # SET NX then GET in one pipeline (rather than SET NX GET, which needs Redis 7):
    # whichever token is there afterwards is the current one.
    pipe = r.pipeline(transaction=False)
    pipe.set(name, fresh, ex=GENERATION_TTL_SECONDS, nx=True)
    pipe.get(name)
    _, current = await pipe.execute()
    return current if current is not None else fresh


async def bump_generation(r: aioredis.Redis, course_id: str) -> str:
    """Replaces the generation: every entry read under the old one stops matching at once."""
    token = new_token()
    await r.set(keys.content_generation(course_id), token, ex=GENERATION_TTL_SECONDS)
    return token


async def try_lock(r: aioredis.Redis, name: str, ttl_ms: int) -> str | None:
    """The fill lock's token when this caller got it, None when another holds it."""
    return await locks.acquire(r, keys.content_fill_lock(name), ttl_ms)


async def release_lock(r: aioredis.Redis, name: str, token: str) -> None:
    await locks.release(r, keys.content_fill_lock(name), token)
