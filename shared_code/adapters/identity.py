"""The app's Microsoft Entra identity, for the stores that accept it instead of a key.

In Azure (LECTERN_AUTH_MODE=identity) one DefaultAzureCredential per process, the function
app's managed identity, signs in to Storage, Web PubSub, PostgreSQL and Redis. PostgreSQL
and Redis take an Entra access token where a password would go; the token is fetched when a
connection opens and reused until shortly before it expires, so a burst of new connections
costs one token request, not one each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.credentials_async import AsyncTokenCredential
from redis.credentials import CredentialProvider

# Scopes of the Entra resources: Azure Database for PostgreSQL (all server kinds share the
# ossrdbms resource) and Azure Managed Redis / Azure Cache for Redis.
POSTGRES_SCOPE = "https://ossrdbms-aad.database.windows.net/.default"
REDIS_SCOPE = "https://redis.azure.com/.default"
# A token this close to its expiry is not handed to a new connection.
REFRESH_MARGIN_SECONDS = 300

_credential: AsyncTokenCredential | None = None


def app_credential() -> AsyncTokenCredential:
    """The process's credential, built on first use and shared by every client."""
    global _credential
    if _credential is None:
        from azure.identity.aio import DefaultAzureCredential

        _credential = DefaultAzureCredential()
    return _credential


class EntraToken:
    """An access token for one scope, fetched again when it nears expiry."""

    def __init__(self, credential: AsyncTokenCredential, scope: str) -> None:
        self.credential = credential
        self.scope = scope
        self._token: AccessToken | None = None
        self._lock = asyncio.Lock()

    async def value(self) -> str:
        if self._fresh():
            return self._token.token  # type: ignore[union-attr]
        async with self._lock:
            if not self._fresh():
                self._token = await self.credential.get_token(self.scope)
        return self._token.token  # type: ignore[union-attr]

    def _fresh(self) -> bool:
        return self._token is not None and self._token.expires_on - time.time() > REFRESH_MARGIN_SECONDS


def postgres_connect_kwargs(base: dict[str, Any], token: EntraToken) -> Callable[[], Awaitable[dict[str, Any]]]:
    """psycopg_pool calls this for each new connection: the fixed options plus a token as
    the password."""

    async def kwargs() -> dict[str, Any]:
        return {**base, "password": await token.value()}

    return kwargs


class RedisEntraCredentials(CredentialProvider):
    """AUTH <user> <token> for each new Redis connection; the user is the identity's object
    id, which the access policy assignment on the Redis database names."""

    def __init__(self, username: str, token: EntraToken) -> None:
        self.username = username
        self.token = token

    def get_credentials(self) -> tuple[str, str]:
        raise RuntimeError("the asyncio client asks for credentials with get_credentials_async")

    async def get_credentials_async(self) -> tuple[str, str]:
        return self.username, await self.token.value()
