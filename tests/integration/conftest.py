"""Integration ring: services built in-process against the real local stores, with a
redis-server each test owns (so a test may kill it) and the test profile's PostgreSQL,
Azurite and Web PubSub service."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from shared_code.auth import Principal
from shared_code.bootstrap import build_context
from shared_code.context import AppContext
from shared_code.migrations import apply_migrations
from shared_code.settings import Settings
from tests.support.redis_server import RedisServer


@pytest.fixture(scope="module")
def migrated(stack) -> str:
    apply_migrations(stack.postgres_url)
    return stack.postgres_url


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.kill()


@pytest.fixture
async def ctx(stack, migrated, redis_server) -> AsyncIterator[AppContext]:
    settings = Settings(
        environment="test",
        postgres_url=migrated,
        postgres_pool_max=10,
        redis_url=redis_server.url,
        storage_connection_string=stack.storage_connection_string,
        webpubsub_connection_string=stack.pubsub_connection_string,
        jwt_dev_secret="integration-only-secret-integration-only-secret",
        cache_enabled=True,
    )
    # Breakers, memos and stores live in the context, so each test starts as a fresh process.
    context = await build_context(settings)
    yield context
    await context.throttles.drain()  # broadcasts a test's joins or votes scheduled
    await context.background.drain()
    await context.close()


def person(*roles: str, name: str | None = None) -> Principal:
    return Principal(user_id=str(uuid.uuid4()), name=name or f"{roles[0]}-{uuid.uuid4().hex[:6]}", roles=frozenset(roles))
