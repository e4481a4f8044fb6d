"""One round trip for many Redis commands: the batchers' (`concurrency.py`) way to the wire.

The client's own pipeline encodes each argument in Python and wraps every command and
reply in layers of bookkeeping; on the hottest requests its share of the cost was as large
as the rest of the request's own code. The batchers' commands are few and plain (MGET,
EVALSHA), so `round_trip` packs each in one hiredis call and reads the replies straight off
one of the client's pooled connections.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, cast

import redis.asyncio as aioredis
from hiredis import pack_command
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


@dataclass(frozen=True)
class BatchScript:
    """A Lua script a `ReadBatcher` may send by its SHA (loaded again when Redis forgot it)."""

    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


async def round_trip(r: aioredis.Redis, commands: list[tuple[str | int, ...]]) -> list[Any]:
    """Sends `commands` as one pipeline on one of the client's connections and reads their
    replies in order, an error reply as that command's exception. A connection that fails
    is dropped and the batch sent once more on another, as the client's pipeline does (a
    script call may then run twice, as it may there)."""
    pool = r.connection_pool
    for attempt in (1, 2):
        conn = await pool.get_connection()  # type: ignore[no-untyped-call]  # the client's own annotation lacks it
        try:
            await conn.send_packed_command(b"".join(pack_command(cast(Any, c)) for c in commands), check_health=False)
            replies: list[Any] = []
            # One deadline for the batch's replies: the connection's own would arm and
            # cancel a timer for every reply, a cost each command in the batch paid.
            try:
                async with asyncio.timeout(conn.socket_timeout):
                    for _ in commands:
                        try:
                            replies.append(await conn.read_response(timeout=math.inf))
                        except ResponseError as exc:
                            replies.append(exc)
            except TimeoutError as exc:
                raise RedisTimeoutError(f"no reply from Redis within {conn.socket_timeout} s") from exc
            return replies
        except (RedisConnectionError, RedisTimeoutError, OSError):
            await conn.disconnect()
            if attempt == 2:
                raise
        except BaseException:
            await conn.disconnect()  # a reply left unread would answer the next command on it
            raise
        finally:
            await pool.release(conn)
    raise AssertionError("unreachable")
