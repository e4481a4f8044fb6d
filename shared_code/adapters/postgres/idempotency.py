"""SQL for `idempotency_keys`: the first response to a retryable write, kept by key."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb


async def claim(conn: AsyncConnection, user_id: str, scope: str, key: str, request_hash: str) -> bool:
    """True when this call owns the key; a concurrent owner makes this wait for its commit."""
    cur = await conn.execute(
        """INSERT INTO idempotency_keys (user_id, scope, key, request_hash) VALUES (%s, %s, %s, %s)
           ON CONFLICT DO NOTHING RETURNING 1""",
        (user_id, scope, key, request_hash),
    )
    return await cur.fetchone() is not None


async def stored(conn: AsyncConnection, user_id: str, scope: str, key: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT request_hash, status_code, response FROM idempotency_keys WHERE user_id = %s AND scope = %s AND key = %s",
        (user_id, scope, key),
    )
    return await cur.fetchone()


async def remember(conn: AsyncConnection, user_id: str, scope: str, key: str, status: int, response: Any) -> None:
    await conn.execute(
        "UPDATE idempotency_keys SET status_code = %s, response = %s WHERE user_id = %s AND scope = %s AND key = %s",
        (status, Jsonb(response), user_id, scope, key),
    )


async def release(conn: AsyncConnection, user_id: str, scope: str, key: str) -> None:
    """Forgets a claim whose request failed, so the client's retry runs it again."""
    await conn.execute(
        "DELETE FROM idempotency_keys WHERE user_id = %s AND scope = %s AND key = %s AND status_code IS NULL",
        (user_id, scope, key),
    )
