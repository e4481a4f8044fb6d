"""SQL for `purchases`: each checkout Lectern created with a provider, and what became of it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared_code.adapters.postgres.pool import Conn, Row

COLUMNS = (
    "id, provider, provider_ref, course_id, user_id, amount_cents, currency, status, checkout_url, "
    "payment_ref, refunded_cents, paid_at, created_at, updated_at"
)
# Columns `update_purchase` may set; nothing else is interpolated into SQL.
UPDATABLE = ("status", "payment_ref", "refunded_cents", "paid_at")


async def insert_purchase(
    conn: Conn,
    *,
    purchase_id: str,
    provider: str,
    provider_ref: str,
    course_id: str,
    user_id: str,
    amount_cents: int,
    currency: str,
    checkout_url: str | None,
) -> Row | None:
    """The new row, or None when a pending purchase for this course, user and provider exists."""
    cur = await conn.execute(
        f"""INSERT INTO purchases (id, provider, provider_ref, course_id, user_id, amount_cents, currency, checkout_url)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (course_id, user_id, provider) WHERE status = 'pending' DO NOTHING
            RETURNING {COLUMNS}""",
        (purchase_id, provider, provider_ref, course_id, user_id, amount_cents, currency, checkout_url),
    )
    return await cur.fetchone()


async def pending_purchase(conn: Conn, course_id: str, user_id: str, provider: str) -> Row | None:
    cur = await conn.execute(
        f"""SELECT {COLUMNS} FROM purchases
             WHERE course_id = %s AND user_id = %s AND provider = %s AND status = 'pending'""",
        (course_id, user_id, provider),
    )
    return await cur.fetchone()


async def lock_by_ref(conn: Conn, provider: str, provider_ref: str) -> Row | None:
    """The purchase of a checkout session / order, locked so its events apply one at a time."""
    cur = await conn.execute(
        f"SELECT {COLUMNS} FROM purchases WHERE provider = %s AND provider_ref = %s FOR UPDATE",
        (provider, provider_ref),
    )
    return await cur.fetchone()


async def lock_by_payment(conn: Conn, provider: str, payment_ref: str) -> Row | None:
    cur = await conn.execute(
        f"SELECT {COLUMNS} FROM purchases WHERE provider = %s AND payment_ref = %s FOR UPDATE",
        (provider, payment_ref),
    )
    return await cur.fetchone()


async def update_purchase(conn: Conn, purchase_id: str, changes: dict[str, Any]) -> Row:
    names = [name for name in changes if name in UPDATABLE]
    assignments = ", ".join(f"{name} = %({name})s" for name in names)
    cur = await conn.execute(
        f"UPDATE purchases SET {assignments}, updated_at = now() WHERE id = %(id)s RETURNING {COLUMNS}",  # noqa: S608 - fixed names
        {**{n: changes[n] for n in names}, "id": purchase_id},
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def list_purchases(
    conn: Conn, user_id: str, *, after: tuple[datetime, str] | None, limit: int
) -> list[Row]:
    """One page of a user's purchases, newest first."""
    where, params = "user_id = %(user)s", {"user": user_id, "limit": limit}
    if after is not None:
        where += " AND (created_at, id) < (%(after_time)s, %(after_id)s)"
        params["after_time"], params["after_id"] = after
    cur = await conn.execute(
        f"SELECT {COLUMNS} FROM purchases WHERE {where} ORDER BY created_at DESC, id DESC LIMIT %(limit)s",  # noqa: S608 - `where` is one of two fixed strings; values are parameters
        params,
    )
    return await cur.fetchall()
