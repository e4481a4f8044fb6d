"""The process-wide `redis.asyncio` client, and the Lua scripts it runs."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from azure.core.credentials_async import AsyncTokenCredential
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError

from shared_code.adapters.identity import REDIS_SCOPE, EntraToken, RedisEntraCredentials, app_credential
from shared_code.circuit import CircuitBreaker
from shared_code.settings import Settings

# Redis is the fast path: a stalled Redis must not stall requests for long.
SOCKET_TIMEOUT_SECONDS = 2.0


class GuardedPool(aioredis.BlockingConnectionPool):
    """A pool whose connections pass the process's Redis circuit breaker.

    While Redis is down every command fails at once with a `ConnectionError`, which each
    caller already treats as "Redis unavailable" (serve from PostgreSQL, fail open or
    closed), instead of each one waiting out a connect timeout. Only connecting counts:
    a pool that is merely busy in a burst says nothing about Redis being down.
    """

    breaker: CircuitBreaker

    async def ensure_connection(self, connection: AbstractConnection) -> None:
        if not self.breaker.admit():
            raise RedisConnectionError(f"redis circuit open; retry in {self.breaker.retry_after()} s")
        try:
            await super().ensure_connection(connection)
        except (RedisError, OSError):
            self.breaker.record_failure()
            raise
        except BaseException:
            self.breaker.release_probe()
            raise
        self.breaker.record_success()


def create_redis(settings: Settings, *, credential: AsyncTokenCredential | None = None) -> aioredis.Redis:
    """With LECTERN_AUTH_MODE=identity, REDIS_URL names the identity's object id as its user
    and each new connection authenticates with an Entra token of `credential` (the process's
    managed identity unless given)."""
    url = settings.redis_url.get_secret_value()
    identity: dict[str, Any] = {}
    if settings.uses_identity:
        parts = urlsplit(url)
        if not parts.username:
            raise ValueError("REDIS_URL must name the identity's object id as its user when LECTERN_AUTH_MODE=identity")
        token = EntraToken(credential or app_credential(), REDIS_SCOPE)
        identity["credential_provider"] = RedisEntraCredentials(unquote(parts.username), token)
        # The provider supplies user and token; redis refuses a URL user beside it.
        url = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
    # A blocking pool: in a burst (a thousand students joining a class at once) a command
    # waits briefly for a free connection instead of failing with "Too many connections".
    pool = GuardedPool.from_url(
        url,
        **identity,
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        health_check_interval=30,
        max_connections=200,
        timeout=SOCKET_TIMEOUT_SECONDS,
    )
    pool.breaker = CircuitBreaker("redis", threshold=5, cooldown=2.0)
    return aioredis.Redis.from_pool(pool)


class Script:
    """A Lua script whose SHA is computed once, when its module loads, and that runs on
    whichever client it is handed.

    A script registered per client would need a cache of registrations keyed by the client;
    this needs none. A Redis that restarted or failed over forgets its scripts: the call
    then loads the script and sends it again.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def run(self, r: aioredis.Redis, *, keys: Sequence[str] = (), args: Sequence[Any] = ()) -> Any:
        try:
            return await r.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await r.script_load(self.source)
            return await r.evalsha(self.sha, len(keys), *keys, *args)
