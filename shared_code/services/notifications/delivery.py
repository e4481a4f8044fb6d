"""Writing notifications and pushing them live: the outbox effects the other areas hand
their notifications to, and the push of the rows that are new."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared_code.adapters.postgres import notifications as notifications_sql
from shared_code.adapters.postgres.notifications import NotificationRow
from shared_code.context import AppContext, Effect
from shared_code.domain.notifications import Draft
from shared_code.platform import outbox
from shared_code.services.live.messages import course_group

logger = logging.getLogger("lectern.notifications")

USER_EFFECT = "notification.user"
ENROLLED_EFFECT = "notification.enrolled"
MESSAGE_TYPE = "notification.created"

# Up to this many new recipients of one course are pushed one by one (their message
# carries their row's id); more get one send to the course group instead.
PER_USER_PUSH_MAX = 20


async def notify_user(ctx: AppContext, user_id: str, draft: Draft) -> None:
    """Writes one user's notification now, or queues it for retry, before the caller goes
    on: a row left to a task that outlives the response would be lost whenever the
    instance stops after answering (Azure does not promise such work time). Its push
    follows off the caller's path: it is the live signal, the row is the record."""
    await outbox.perform(ctx, USER_EFFECT, {"userId": user_id, "draft": draft.payload()})


async def notify_enrolled(ctx: AppContext, course_id: str, draft: Draft, *, tutor_id: str | None = None) -> None:
    """Writes the notification for every student enrolled in the course (one statement),
    or queues it for retry, before the caller goes on; the push follows off its path.
    `tutor_id` is left out of a course-wide push."""
    await outbox.perform(ctx, ENROLLED_EFFECT, {"courseId": course_id, "tutorId": tutor_id, "draft": draft.payload()})


async def write_for_user(ctx: AppContext, payload: dict[str, Any]) -> None:
    async with ctx.db.connection() as conn:
        row = await notifications_sql.insert_for_user(conn, payload["userId"], Draft.from_payload(payload["draft"]))
    if row is not None:
        push_new(ctx, [row], course_id=None, tutor_id=None)


async def write_for_enrolled(ctx: AppContext, payload: dict[str, Any]) -> None:
    course_id = payload["courseId"]
    async with ctx.db.connection() as conn:
        rows = await notifications_sql.insert_for_enrolled(conn, [(course_id, None, Draft.from_payload(payload["draft"]))])
    push_new(ctx, rows, course_id=course_id, tutor_id=payload.get("tutorId"))


def effects() -> dict[str, Effect]:
    """This area's outbox effects by kind (collected by the bootstrap)."""
    return {USER_EFFECT: write_for_user, ENROLLED_EFFECT: write_for_enrolled}


def message(row: NotificationRow, *, with_id: bool = True) -> dict[str, Any]:
    """The live `notification.created` for a row (without its id when sent to many)."""
    return _message(row.kind, row.title, row.body, row.data, row.dedupe_key, row.created_at,
                    str(row.id) if with_id else None)


def drafted_message(draft: Draft, notification_id: str) -> dict[str, Any]:
    """The same message from the draft a row was written from and the row's id, for a
    writer that stored the row in a statement of its own (a quiz attempt's)."""
    return _message(draft.kind, draft.title, draft.body, draft.data, draft.key, draft.at, notification_id)


def _message(
    kind: str, title: str, body: str, data: dict[str, Any], key: str, at: datetime, notification_id: str | None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": MESSAGE_TYPE, "kind": kind, "title": title, "body": body, "data": data, "key": key,
        "at": at.isoformat(),
    }
    if notification_id is not None:
        out["id"] = notification_id
    return out


def _leave_out(user_id: str) -> str:
    # User ids are UUIDs; the quotes are doubled anyway, as OData escapes them.
    return "userId ne '{}'".format(user_id.replace("'", "''"))


def push_new(ctx: AppContext, rows: Sequence[NotificationRow], *, course_id: str | None, tutor_id: str | None) -> None:
    """Pushes new rows that share one key: the tutor's (and, for a few, everyone's) to
    each user, many students' with one send to the course group. Each send is an outbox
    effect of its own, deferred: a failed push is retried without writing anything again,
    and a slow one holds up neither the write nor the effect that wrote it."""
    if not rows:
        return
    one_by_one = list(rows)
    if course_id is not None:
        students = [r for r in rows if str(r.user_id) != tutor_id]
        if len(students) > PER_USER_PUSH_MAX:
            one_by_one = [r for r in rows if str(r.user_id) == tutor_id]
            group: dict[str, Any] = {"group": course_group(course_id), "message": message(students[0], with_id=False)}
            if tutor_id:
                group["filter"] = _leave_out(tutor_id)
            outbox.defer(ctx, "pubsub.group", group)
    for row in one_by_one:
        outbox.defer(ctx, "pubsub.user", {"userId": str(row.user_id), "message": message(row)})
