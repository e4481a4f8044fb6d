"""SQL for `purchases`: each checkout Lectern created with a provider, and what became of it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.postgres.rows import columns, fetch_all, fetch_one


@dataclass(frozen=True)
class PurchaseRow:
    """A `purchases` row; its fields are the columns every query here selects."""

    id: uuid.UUID
    provider: str  # stripe, razorpay
    provider_ref: str
    course_id: uuid.UUID
    user_id: uuid.UUID
    amount_cents: int
    currency: str
    status: str  # pending, paid, failed, refunded, disputed
    checkout_url: str | None
    payment_ref: str | None
    refunded_cents: int
    paid_at: datetime | None
    created_at: datetime
    updated_at: datetime


COLUMNS = columns(PurchaseRow)
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
) -> PurchaseRow | None:
    """The new row, or None when a pending purchase for this course, user and provider exists."""
    return await fetch_one(
        conn, PurchaseRow,
        f"""INSERT INTO purchases (id, provider, provider_ref, course_id, user_id, amount_cents, currency, checkout_url)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (course_id, user_id, provider) WHERE status = 'pending' DO NOTHING
            RETURNING {COLUMNS}""",
        (purchase_id, provider, provider_ref, course_id, user_id, amount_cents, currency, checkout_url),
    )


async def pending_purchase(conn: Conn, course_id: str, user_id: str, provider: str) -> PurchaseRow | None:
    return await fetch_one(
        conn, PurchaseRow,
        f"""SELECT {COLUMNS} FROM purchases
             WHERE course_id = %s AND user_id = %s AND provider = %s AND status = 'pending'""",
        (course_id, user_id, provider),
    )


async def lock_by_ref(conn: Conn, provider: str, provider_ref: str) -> PurchaseRow | None:
    """The purchase of a checkout session / order, locked so its events apply one at a time."""
    return await fetch_one(
        conn, PurchaseRow,
        f"SELECT {COLUMNS} FROM purchases WHERE provider = %s AND provider_ref = %s FOR UPDATE",
        (provider, provider_ref),
    )


async def lock_by_payment(conn: Conn, provider: str, payment_ref: str) -> PurchaseRow | None:
    return await fetch_one(
        conn, PurchaseRow,
        f"SELECT {COLUMNS} FROM purchases WHERE provider = %s AND payment_ref = %s FOR UPDATE",
        (provider, payment_ref),
    )


async def update_purchase(conn: Conn, purchase_id: str, changes: dict[str, Any]) -> PurchaseRow:
    names = [name for name in changes if name in UPDATABLE]
    assignments = ", ".join(f"{name} = %({name})s" for name in names)
    row = await fetch_one(
        conn, PurchaseRow,
        f"UPDATE purchases SET {assignments}, updated_at = now() WHERE id = %(id)s RETURNING {COLUMNS}",  # noqa: S608 - fixed names
        {**{n: changes[n] for n in names}, "id": purchase_id},
    )
    assert row is not None
    return row


async def list_purchases(
    conn: Conn, user_id: str, *, after: tuple[datetime, str] | None, limit: int
) -> list[PurchaseRow]:
    """One page of a user's purchases, newest first."""
    where, params = "user_id = %(user)s", {"user": user_id, "limit": limit}
    if after is not None:
        where += " AND (created_at, id) < (%(after_time)s, %(after_id)s)"
        params["after_time"], params["after_id"] = after
    return await fetch_all(
        conn, PurchaseRow,
        f"SELECT {COLUMNS} FROM purchases WHERE {where} ORDER BY created_at DESC, id DESC LIMIT %(limit)s",  # noqa: S608 - `where` is one of two fixed strings; values are parameters
        params,
    )
