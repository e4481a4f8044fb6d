"""The audit trail: an immutable Azure Table row per privileged action.

Partitioned by month so an admin's time-range query reads few partitions; the row key
starts with an inverted timestamp so the newest rows come first. The one change a row ever
sees: an erasure (`services/privacy`) replaces the erased actor's name.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from shared_code.adapters import table_keys
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.platform import outbox


def iso_utc(value: datetime) -> str:
    """A fixed-width UTC timestamp, so Table storage's string comparison orders it correctly."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def audit_entity(actor: Principal | None, action: str, target: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    now = datetime.now(UTC)
    partition, row = table_keys.audit_keys(now)
    return {
        "PartitionKey": partition,
        "RowKey": row,
        "at": iso_utc(now),
        "actorId": actor.user_id if actor else "system",
        "actorName": actor.name if actor else "system",
        "action": action,
        "target": target,
        "details": json.dumps(details or {}, default=str)[:30000],
    }


async def record(ctx: AppContext, actor: Principal | None, action: str, target: str, details: dict[str, Any] | None = None) -> None:
    """Writes the audit row now, or queues it for retry; never silently drops it. Rows are
    only ever inserted (the key is fixed before the first attempt), so no later write,
    retry or replay can change one."""
    await outbox.perform(
        ctx, "audit.insert", {"table": ctx.settings.audit_table, "entity": audit_entity(actor, action, target, details)}
    )
