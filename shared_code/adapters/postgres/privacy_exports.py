"""SQL of `privacy_exports`: full exports built off the request (`services/privacy/export_job.py`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from psycopg.types.json import Jsonb

from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.postgres.rows import columns, fetch_all, fetch_one


@dataclass(frozen=True)
class ExportRow:
    id: uuid.UUID
    user_id: uuid.UUID
    requested_by: uuid.UUID
    status: str
    blob_name: str | None
    size_bytes: int | None
    counts: dict[str, int] | None
    failure: str | None
    requested_at: datetime
    completed_at: datetime | None
    expires_at: datetime | None


async def _fail_stale(conn: Conn, user_id: str | None) -> None:
    """Pending exports older than an hour never finished (their build's retries ran out):
    failed. Only the person's, or everyone's (`user_id` None)."""
    await conn.execute(
        """UPDATE privacy_exports SET status = 'failed', failure = 'the build did not finish', completed_at = now()
            WHERE status = 'pending' AND requested_at < now() - interval '1 hour'
              AND (%(user)s::uuid IS NULL OR user_id = %(user)s::uuid)""",
        {"user": user_id},
    )


async def request(conn: Conn, export_id: str, user_id: str, requested_by: str) -> tuple[ExportRow, bool]:
    """The person's pending export, made now (True) or the one already pending (False): one
    at a time, so a repeated request costs no second build. One left pending by a build
    that never finished is marked failed first, so the person can ask again."""
    await _fail_stale(conn, user_id)
    made = await fetch_one(
        conn, ExportRow,
        f"""INSERT INTO privacy_exports (id, user_id, requested_by) VALUES (%s, %s, %s)
            ON CONFLICT (user_id) WHERE status = 'pending' DO NOTHING
            RETURNING {columns(ExportRow)}""",
        (export_id, user_id, requested_by),
    )
    if made is not None:
        return made, True
    pending = await fetch_one(
        conn, ExportRow,
        f"SELECT {columns(ExportRow)} FROM privacy_exports WHERE user_id = %s AND status = 'pending'",
        (user_id,),
    )
    if pending is None:  # finished between the two statements: ask again
        return await request(conn, export_id, user_id, requested_by)
    return pending, False


async def get(conn: Conn, export_id: str, user_id: str) -> ExportRow | None:
    """One export of one person (an id of someone else's is not found)."""
    return await fetch_one(
        conn, ExportRow,
        f"SELECT {columns(ExportRow)} FROM privacy_exports WHERE id = %s AND user_id = %s",
        (export_id, user_id),
    )


async def newest(conn: Conn, user_id: str, limit: int) -> list[ExportRow]:
    return await fetch_all(
        conn, ExportRow,
        f"""SELECT {columns(ExportRow)} FROM privacy_exports WHERE user_id = %s
             ORDER BY requested_at DESC, id DESC LIMIT %s""",
        (user_id, limit),
    )


async def pending(conn: Conn, export_id: str) -> ExportRow | None:
    return await fetch_one(
        conn, ExportRow,
        f"SELECT {columns(ExportRow)} FROM privacy_exports WHERE id = %s AND status = 'pending'",
        (export_id,),
    )


async def mark_ready(
    conn: Conn, export_id: str, blob_name: str, size_bytes: int, counts: dict[str, int], expires_at: datetime
) -> ExportRow | None:
    """None when the export is no longer pending (erased with its person meanwhile)."""
    return await fetch_one(
        conn, ExportRow,
        f"""UPDATE privacy_exports SET status = 'ready', blob_name = %s, size_bytes = %s, counts = %s,
                   completed_at = now(), expires_at = %s
             WHERE id = %s AND status = 'pending' RETURNING {columns(ExportRow)}""",
        (blob_name, size_bytes, Jsonb(counts), expires_at, export_id),
    )


async def mark_failed(conn: Conn, export_id: str, failure: str) -> bool:
    cur = await conn.execute(
        """UPDATE privacy_exports SET status = 'failed', failure = %s, completed_at = now()
            WHERE id = %s AND status = 'pending'""",
        (failure[:500], export_id),
    )
    return cur.rowcount == 1


async def expire_due(conn: Conn, limit: int) -> list[ExportRow]:
    """Ready exports past their time, marked expired (their blobs are the caller's to delete),
    and pending ones whose build never finished, marked failed."""
    await _fail_stale(conn, None)
    return await fetch_all(
        conn, ExportRow,
        f"""UPDATE privacy_exports SET status = 'expired'
             WHERE id IN (SELECT id FROM privacy_exports WHERE status = 'ready' AND expires_at <= now()
                           ORDER BY expires_at LIMIT %s FOR UPDATE SKIP LOCKED)
             RETURNING {columns(ExportRow)}""",
        (limit,),
    )


async def erase(conn: Conn, user_id: str) -> list[str]:
    """Every export of the person gone; the blob names they had, for the caller to delete."""
    cur = await conn.execute("DELETE FROM privacy_exports WHERE user_id = %s RETURNING blob_name", (user_id,))
    return [row["blob_name"] for row in await cur.fetchall() if row["blob_name"]]
