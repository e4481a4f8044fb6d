"""SQL for `payment_events` (every provider event id seen, so each is processed once) and
`payment_holds` (refunds and disputes kept until their payment lands)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.postgres.rows import columns, fetch_all, fetch_one
from shared_code.domain.payment_events import FactKind


@dataclass(frozen=True)
class EventRow:
    """A `payment_events` row, as a repeated delivery reads it."""

    event_id: str
    type: str
    received_at: datetime
    processed_at: datetime | None
    outcome: str | None


@dataclass(frozen=True)
class HoldRow:
    """A `payment_holds` row: a refund or dispute kept until its payment lands."""

    event_id: str
    kind: FactKind  # refund or dispute
    amount_cents: int
    cumulative: bool
    currency: str
    created_at: datetime


async def record_event(conn: Conn, event_id: str, event_type: str, payload: Any) -> bool:
    """True when this delivery is the first of the event; a concurrent first waits for its commit."""
    cur = await conn.execute(
        """INSERT INTO payment_events (event_id, type, payload, processed_at) VALUES (%s, %s, %s, now())
           ON CONFLICT (event_id) DO NOTHING RETURNING 1""",
        (event_id, event_type, Jsonb(payload)),
    )
    return await cur.fetchone() is not None


async def set_outcome(conn: Conn, event_id: str, outcome: str) -> None:
    await conn.execute("UPDATE payment_events SET outcome = %s WHERE event_id = %s", (outcome[:200], event_id))


async def get_event(conn: Conn, event_id: str) -> EventRow | None:
    return await fetch_one(conn, EventRow, f"SELECT {columns(EventRow)} FROM payment_events WHERE event_id = %s", (event_id,))



# --- holds: refunds and disputes that arrived before their payment ------------------------
async def hold(
    conn: Conn,
    *,
    event_id: str,
    provider: str,
    payment_ref: str,
    kind: str,
    amount_cents: int,
    cumulative: bool,
    currency: str,
) -> None:
    await conn.execute(
        """INSERT INTO payment_holds (event_id, provider, payment_ref, kind, amount_cents, cumulative, currency)
           VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING""",
        (event_id, provider, payment_ref, kind, amount_cents, cumulative, currency),
    )


async def take_holds(conn: Conn, provider: str, payment_ref: str) -> list[HoldRow]:
    """The open holds of a payment, marked applied (inside the caller's transaction), oldest first."""
    holds = await fetch_all(
        conn, HoldRow,
        f"""UPDATE payment_holds SET applied_at = now()
             WHERE provider = %s AND payment_ref = %s AND applied_at IS NULL
         RETURNING {columns(HoldRow)}""",
        (provider, payment_ref),
    )
    return sorted(holds, key=lambda h: h.created_at)
