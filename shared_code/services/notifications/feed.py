"""A user's notification feed: the page, newest first, with the unread count, and marking
read, which touches only the caller's own rows whatever ids they send."""

from __future__ import annotations

from datetime import UTC, datetime

from shared_code.adapters.postgres import notifications as notifications_sql
from shared_code.adapters.postgres.notifications import NotificationRow
from shared_code.adapters.postgres.rows import values
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.models.notifications import MarkRead, MarkReadResult, Notification, NotificationPage, NotificationQuery
from shared_code.services.content.paging import position_of, split_page


def _out(row: NotificationRow) -> Notification:
    return Notification.model_validate({**values(row), "key": row.dedupe_key})


async def list_notifications(ctx: AppContext, principal: Principal, q: NotificationQuery) -> NotificationPage:
    after = position_of(q.cursor)
    async with ctx.db.connection() as conn:
        rows = await notifications_sql.page(conn, principal.user_id, unread_only=q.unread, after=after, limit=q.limit + 1)
        unread = await notifications_sql.unread_count(conn, principal.user_id)
    page, next_cursor = split_page(rows, q.limit, "created_at")
    return NotificationPage(items=[_out(r) for r in page], next_cursor=next_cursor, unread_count=unread)


async def mark_read(ctx: AppContext, principal: Principal, body: MarkRead) -> MarkReadResult:
    """Ids that are not the caller's (or not anyone's) change nothing and are not reported:
    the answer must not tell a caller which ids exist."""
    async with ctx.db.transaction() as conn:
        updated = await notifications_sql.mark_read(
            conn, principal.user_id, None if body.all_ else body.ids, datetime.now(UTC)
        )
        unread = await notifications_sql.unread_count(conn, principal.user_id)
    return MarkReadResult(updated=updated, unread_count=unread)
