"""The content-access log: one Azure Table row per playback URL or download link issued.

Partitioned by course and UTC day (`<courseId>_<yyyymmdd>`). The questions asked of this
log are about a course's content over a period ("who opened this lesson this week",
licence and abuse reports, a tutor's view of what was used), which then read a handful
of partitions instead of scanning the table; the day bucket keeps any partition from
growing without bound and spreads a large course's writes across partitions over time.
Row keys start with an inverted timestamp so the newest rows come first in a partition.

Each row is written (or queued for retry by the outbox) before the link it records is
handed out: a link answered first and recorded by a task left running after the response
would go unrecorded whenever the instance stopped in between, and these rows are what
licence and abuse reports are made from. The write costs the request one Table call.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from shared_code.adapters import table_keys
from shared_code.context import AppContext
from shared_code.platform import outbox

MAX_USER_AGENT = 512

AccessKind = Literal["playback", "recording", "download"]


def access_entity(
    *,
    course_id: str,
    user_id: str,
    kind: AccessKind,
    target_id: str,
    user_agent: str | None,
    expires_at: datetime,
    at: datetime | None = None,
) -> dict[str, Any]:
    moment = at or datetime.now(UTC)
    partition, row = table_keys.access_log_keys(course_id, moment)
    return {
        "PartitionKey": partition,
        "RowKey": row,
        "at": moment.isoformat(),
        "courseId": course_id,
        "userId": user_id,
        "kind": kind,
        "targetId": target_id,
        "userAgent": (user_agent or "")[:MAX_USER_AGENT],
        "expiresAt": expires_at.isoformat(),
    }


async def record_access(
    ctx: AppContext,
    *,
    course_id: str,
    user_id: str,
    kind: AccessKind,
    target_id: str,
    user_agent: str | None,
    expires_at: datetime,
) -> dict[str, Any]:
    """Writes the row now, or queues it for retry; raises only when neither worked (then
    the link must not be handed out).

    Its parameters are `access_entity`'s on purpose (callers name them by keyword); the row
    itself is built there, once."""
    entity = access_entity(
        course_id=course_id,
        user_id=user_id,
        kind=kind,
        target_id=target_id,
        user_agent=user_agent,
        expires_at=expires_at,
    )
    await outbox.perform(ctx, "access.upsert", {"table": ctx.settings.access_log_table, "entity": entity})
    return entity
