"""SQL for `pending_effects`: outbox effects parked in PostgreSQL while Storage is down."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.postgres.rows import columns, fetch_all


@dataclass(frozen=True)
class ParkedEffect:
    """A `pending_effects` row as the drain reads it."""

    id: uuid.UUID
    kind: str
    payload: dict[str, Any]
    attempts: int


async def park(conn: Conn, effect_id: str, kind: str, payload: dict[str, Any], reason: str) -> None:
    await conn.execute(
        "INSERT INTO pending_effects (id, kind, payload, reason) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (effect_id, kind, Jsonb(payload), reason),
    )


async def take_due(conn: Conn, limit: int) -> list[ParkedEffect]:
    """Rows due now, locked so concurrent drainers skip them (call inside a transaction)."""
    return await fetch_all(
        conn, ParkedEffect,
        f"""SELECT {columns(ParkedEffect)} FROM pending_effects WHERE next_at <= now()
            ORDER BY next_at LIMIT %s FOR UPDATE SKIP LOCKED""",
        (limit,),
    )


async def done(conn: Conn, effect_id: str) -> None:
    await conn.execute("DELETE FROM pending_effects WHERE id = %s", (effect_id,))


async def done_all(conn: Conn, effect_ids: list[str]) -> None:
    await conn.execute("DELETE FROM pending_effects WHERE id = ANY(%s::uuid[])", (effect_ids,))


async def postpone(conn: Conn, effect_id: str, reason: str, delay_seconds: int) -> None:
    await conn.execute(
        """UPDATE pending_effects SET attempts = attempts + 1, reason = %s,
                  next_at = now() + make_interval(secs => %s) WHERE id = %s""",
        (reason[:500], delay_seconds, effect_id),
    )


async def count(conn: Conn) -> int:
    cur = await conn.execute("SELECT count(*) AS n FROM pending_effects")
    row = await cur.fetchone()
    return int(row["n"]) if row else 0
