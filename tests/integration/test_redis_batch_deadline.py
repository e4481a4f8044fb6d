"""The batchers' round trip (`shared_code/pipelining.py`) keeps one deadline for a whole
batch's replies: a Redis that does not answer in time is a Redis error after about the
client's socket timeout (never a hang, never an error the callers' `RedisError` handling
misses), and the connection that was left mid-reply is dropped, so the next batch reads
its own replies and not the late one."""

from __future__ import annotations

import time
import uuid

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from shared_code.pipelining import round_trip

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def client(redis_server):
    r = aioredis.Redis(host="127.0.0.1", port=redis_server.port, socket_timeout=0.3)
    yield r
    await r.aclose()


async def test_a_batch_redis_does_not_answer_in_time_is_a_redis_error_after_the_deadline(client):
    empty = f"deadline:{uuid.uuid4()}"
    started = time.monotonic()
    with pytest.raises(RedisError):
        # The PING answers at once; the BLPOP would hold its reply for five seconds.
        await round_trip(client, [("PING",), ("BLPOP", empty, 5)])
    took = time.monotonic() - started
    # Tried twice (a failed connection's batch is sent once more on another), each bounded
    # by the one deadline, not by the reply that never came.
    assert took < 2.0


async def test_after_a_late_batch_the_next_batch_reads_its_own_replies(client):
    slow = f"deadline:{uuid.uuid4()}"
    with pytest.raises(RedisError):
        await round_trip(client, [("BLPOP", slow, 1)])
    await client.rpush(slow, "late")
    replies = await round_trip(client, [("ECHO", "mine"), ("INCRBY", f"deadline:{uuid.uuid4()}", 2), ("LPOP", slow)])
    assert replies == [b"mine", 2, b"late"]


async def test_an_error_reply_is_its_own_commands_exception_and_the_rest_answer(client):
    key = f"deadline:{uuid.uuid4()}"
    replies = await round_trip(client, [("SET", key, "text"), ("INCR", key), ("GET", key)])
    assert replies[0] is True or replies[0] == b"OK"
    assert isinstance(replies[1], ResponseError)
    assert replies[2] == b"text"
