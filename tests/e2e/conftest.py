"""End-to-end ring: the real local stack (host, PostgreSQL, Redis, Azurite, Web PubSub)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support import live_contract
from tests.support.actors import Actor, new_actor


@pytest.fixture(autouse=True)
def live_messages_fit_the_contract():
    """Every live message a test received fits docs/asyncapi.json (checked as received)."""
    live_contract.VIOLATIONS.clear()
    yield
    found, live_contract.VIOLATIONS[:] = list(live_contract.VIOLATIONS), []
    assert not found, "live messages outside the contract:\n" + "\n".join(found[:10])


@pytest.fixture(scope="session")
async def api(stack) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client rooted at the local host's `/api/`."""
    async with httpx.AsyncClient(base_url=stack.base_url.rstrip("/") + "/", timeout=30) as client:
        yield client


@pytest.fixture
def actor(api: httpx.AsyncClient):
    """`await actor("student")` makes a new user with a token."""

    async def make(*roles: str, name: str | None = None) -> Actor:
        return await new_actor(api, *roles, name=name)

    return make
