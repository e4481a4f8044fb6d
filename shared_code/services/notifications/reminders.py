"""The class reminder: every minute a timer notifies the enrolled students and the tutor of
each class scheduled to start within the next `class_reminder_minutes`.

Each class is reminded once per user: the reminder's key names the class, so a second run
over the same window (or two instances running at once) inserts nothing and pushes nothing.
A student who enrols between two runs is reminded by the next one.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared_code.adapters.postgres import classes as classes_sql
from shared_code.adapters.postgres import notifications as notifications_sql
from shared_code.adapters.postgres.notifications import NotificationRow
from shared_code.context import AppContext
from shared_code.domain import notifications as texts
from shared_code.services.notifications.delivery import push_new

logger = logging.getLogger("lectern.notifications")


@dataclass(frozen=True)
class ReminderRun:
    classes: int  # classes due within the window
    notified: int  # notifications written by this run (0 when every one existed already)


# Classes one reminder statement covers; a busier window takes several, all in one run.
PAGE_SIZE = 1000


async def remind_upcoming_classes(
    ctx: AppContext, *, now: datetime | None = None, page_size: int = PAGE_SIZE
) -> ReminderRun:
    now = now or datetime.now(UTC)
    until = now + timedelta(minutes=ctx.settings.class_reminder_minutes)
    classes_due = notified = 0
    after: tuple[datetime, str] | None = None
    while True:
        async with ctx.db.connection() as conn:
            due = await classes_sql.starting_between(conn, now, until, after=after, limit=page_size)
            drafts = [
                (str(c["course_id"]), str(c["tutor_id"]),
                 texts.class_reminder(str(c["id"]), str(c["course_id"]), c["title"], c["scheduled_at"], now))
                for c in due
            ]
            rows = await notifications_sql.insert_for_enrolled(conn, drafts) if drafts else []
        by_key: dict[str, list[NotificationRow]] = defaultdict(list)
        for row in rows:
            by_key[row.dedupe_key].append(row)
        for course_id, tutor_id, draft in drafts:
            push_new(ctx, by_key.get(draft.key, []), course_id=course_id, tutor_id=tutor_id)
        classes_due += len(due)
        notified += len(rows)
        if len(due) < page_size:
            break
        after = (due[-1]["scheduled_at"], str(due[-1]["id"]))
    if not classes_due:
        logger.debug("no class starts within %s minutes", ctx.settings.class_reminder_minutes)
    else:
        log = logger.info if notified else logger.debug
        log("class reminders", extra={"classes": classes_due, "notified": notified})
    return ReminderRun(classes_due, notified)
