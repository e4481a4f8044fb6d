"""SQL for `idempotency_keys`: the first response to a retryable write, kept by key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.postgres.rows import columns, fetch_one

# A claim with no outcome this old belongs to a request that died between its write and
# recording the outcome (a crash, the database going away): longer than any request may
# run, so a live request never loses its key, and short enough that a client's retry with
# the same key is not refused forever.
STALE_CLAIM_SECONDS = 360  # host.json functionTimeout is 5 minutes


async def claim(conn: Conn, user_id: str, scope: str, key: str, request_hash: str) -> bool:
    """True when this call owns the key; a concurrent owner makes this wait for its commit.
    A stale claim (see STALE_CLAIM_SECONDS) for the same body is taken over."""
    cur = await conn.execute(
        """INSERT INTO idempotency_keys (user_id, scope, key, request_hash) VALUES (%s, %s, %s, %s)
           ON CONFLICT (user_id, scope, key) DO UPDATE SET created_at = now()
           WHERE idempotency_keys.status_code IS NULL
             AND idempotency_keys.request_hash = EXCLUDED.request_hash
             AND idempotency_keys.created_at < now() - make_interval(secs => %s)
           RETURNING 1""",
        (user_id, scope, key, request_hash, STALE_CLAIM_SECONDS),
    )
    return await cur.fetchone() is not None


@dataclass(frozen=True)
class StoredKey:
    """What a key holds: the body it was first used with and, once settled, the answer."""

    request_hash: str
    status_code: int | None  # None while its first request runs
    response: Any


async def stored(conn: Conn, user_id: str, scope: str, key: str) -> StoredKey | None:
    return await fetch_one(
        conn, StoredKey,
        f"SELECT {columns(StoredKey)} FROM idempotency_keys WHERE user_id = %s AND scope = %s AND key = %s",
        (user_id, scope, key),
    )


async def remember(conn: Conn, user_id: str, scope: str, key: str, status: int, response: Any) -> None:
    await conn.execute(
        "UPDATE idempotency_keys SET status_code = %s, response = %s WHERE user_id = %s AND scope = %s AND key = %s",
        (status, Jsonb(response), user_id, scope, key),
    )


async def release(conn: Conn, user_id: str, scope: str, key: str) -> None:
    """Forgets a claim whose request failed, so the client's retry runs it again."""
    await conn.execute(
        "DELETE FROM idempotency_keys WHERE user_id = %s AND scope = %s AND key = %s AND status_code IS NULL",
        (user_id, scope, key),
    )
