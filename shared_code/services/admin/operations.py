"""Admin operations: reading the audit trail, dead letters and their replay, role changes."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from shared_code.adapters import table_keys
from shared_code.adapters.postgres import users as users_sql
from shared_code.auth import Account, Principal
from shared_code.context import AppContext
from shared_code.errors import NotFound
from shared_code.models.admin import AuditEntry, AuditQuery, DeadLetter, ReplayResult, UserRoles
from shared_code.pagination import decode_cursor, encode_cursor
from shared_code.platform import audit, outbox, users

logger = logging.getLogger("lectern.admin")

AUDIT_DEFAULT_DAYS = 31
AUDIT_MAX_MONTHS = 24


def _months_newest_first(start: datetime, end: datetime) -> list[str]:
    months: list[str] = []
    year, month = end.year, end.month
    while (year, month) >= (start.year, start.month) and len(months) < AUDIT_MAX_MONTHS:
        months.append(table_keys.audit_month(year, month))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return months


async def read_audit(ctx: AppContext, q: AuditQuery) -> tuple[list[AuditEntry], str | None]:
    """Newest first; each month is one partition, so a time range reads only its months."""
    end = q.to or datetime.now(UTC)
    start = q.from_ or end - timedelta(days=AUDIT_DEFAULT_DAYS)
    cursor = decode_cursor(q.cursor) or {}
    after_pk, after_rk = cursor.get("pk"), cursor.get("rk")
    items: list[AuditEntry] = []
    for month in _months_newest_first(start, end):
        if after_pk and month > after_pk:
            continue
        clauses = ["PartitionKey eq @pk", "at ge @start", "at le @end"]
        params: dict[str, Any] = {"pk": month, "start": audit.iso_utc(start), "end": audit.iso_utc(end)}
        if after_pk == month and after_rk:
            clauses.append("RowKey gt @rk")
            params["rk"] = after_rk
        if q.actor:
            clauses.append("actorId eq @actor")
            params["actor"] = str(q.actor)
        if q.action:
            clauses.append("action eq @action")
            params["action"] = q.action
        async for row in ctx.tables.query(ctx.settings.audit_table, " and ".join(clauses), params, limit=q.limit + 1 - len(items)):
            items.append(_entry(row))
            if len(items) > q.limit:
                last = items[q.limit - 1]
                return items[: q.limit], encode_cursor({"pk": last.id.split("/")[0], "rk": last.id.split("/")[1]})
    return items, None


def _entry(row: dict[str, Any]) -> AuditEntry:
    try:
        details = json.loads(row.get("details") or "{}")
    except ValueError:
        details = {"raw": row.get("details")}
    return AuditEntry(
        id=f"{row['PartitionKey']}/{row['RowKey']}",
        at=row["at"],
        actor_id=row.get("actorId", ""),
        actor_name=row.get("actorName", ""),
        action=row.get("action", ""),
        target=row.get("target", ""),
        details=details,
    )


async def list_dead_letters(ctx: AppContext, limit: int) -> list[DeadLetter]:
    queue = outbox.poison_queue(ctx)
    out = []
    for msg in await ctx.queues.peek_all(queue, limit=limit):
        body = msg.body or {}
        out.append(
            DeadLetter(
                message_id=msg.id,
                queue=queue,
                kind=body.get("kind"),
                # Messages the host moved after maxDequeueCount carry no reason of ours.
                reason=body.get("reason") or ("moved by the host after repeated failures" if msg.body else "not JSON"),
                attempt=body.get("attempt"),
                dequeue_count=msg.dequeue_count,
                inserted_at=msg.inserted_on,
                payload=body.get("payload") if msg.body else msg.raw[:2000],
            )
        )
    return out


async def replay_dead_letter(ctx: AppContext, actor: Principal, message_id: str) -> ReplayResult:
    """Puts one poison message back on the work queue as a fresh first attempt."""
    queue = outbox.poison_queue(ctx)
    msg = await ctx.queues.take(queue, message_id)
    if msg is None or msg.body is None:
        raise NotFound("No dead letter has that id.")
    body = dict(msg.body)
    new_id = await ctx.queues.send(
        ctx.settings.outbox_queue,
        {"id": body.get("id"), "kind": body.get("kind"), "payload": body.get("payload"), "attempt": 1,
         "reason": f"replayed by admin: {body.get('reason', '')}"[:500]},
    )
    await ctx.queues.delete(queue, msg)
    await audit.record(ctx, actor, "deadletter.replay", f"queue:{queue}/{message_id}", {"kind": body.get("kind"), "requeuedAs": new_id})
    return ReplayResult(message_id=message_id, requeued_as=new_id, queue=ctx.settings.outbox_queue)


async def _close_live_connections(ctx: AppContext, user_id: str) -> None:
    """A live connection keeps the role it connected with, so a user who lost a role is
    disconnected: the page reconnects, and the connect event applies the stored roles."""
    try:
        await ctx.pubsub.close_user_connections(user_id, reason="Your roles changed; reconnect to continue.")
    except Exception as exc:  # noqa: BLE001 - the change is stored; the connect event still checks it
        logger.warning("live connections of a demoted user not closed: %s", type(exc).__name__)


async def set_user_roles(ctx: AppContext, actor: Principal, user_id: str, roles: Sequence[str]) -> UserRoles:
    """Stores the user's roles; they apply to the user's next request and next live
    connection, whatever their current token says (`platform/users.py`)."""
    async with ctx.db.transaction() as conn:
        before = await users_sql.get_user(conn, user_id, for_update=True)
        if before is None:
            raise NotFound("No such user.")
        row = await users_sql.set_roles(conn, user_id, sorted(set(roles)))
        if row is None:
            raise NotFound("No such user.")
    stored = row.roles or []
    await users.roles_changed(ctx, Account(user_id=str(row.id), name=row.name or "", roles=frozenset(stored)))
    if set(before.roles or []) - set(stored):
        await _close_live_connections(ctx, user_id)
    await audit.record(ctx, actor, "user.roles", f"user:{user_id}",
                       {"before": sorted(before.roles or []), "after": sorted(stored)})
    return UserRoles(id=row.id, name=row.name, roles=row.roles)
