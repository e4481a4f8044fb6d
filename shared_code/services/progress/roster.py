"""A course's roster for its tutor: every actively enrolled student with their progress,
last activity and quiz average, sortable and paged, one query per page.

Progress counts completed lessons of the lessons that exist now (a deleted lesson takes its
progress with it), so the percentages agree with the student's own dashboard. The cursor
carries the sort and order it was issued for: a cursor sent with another sort would
continue a different order, so it is refused (400) instead of returning a page that skips
or repeats students.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from shared_code.adapters.postgres import roster as roster_sql
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import FieldError, ValidationFailed
from shared_code.models.roster import RosterPage, RosterQuery, RosterStudent
from shared_code.pagination import decode_cursor, encode_cursor
from shared_code.platform.access import CourseAccess, require_manager

NO_ACTIVITY = "-infinity"


def _refuse(message: str = "not a cursor this API issued") -> ValidationFailed:
    return ValidationFailed(errors=[FieldError("cursor", message)])


def _sort_key(row: dict[str, Any], sort: str) -> Any:
    """The row's sort key as the cursor carries it (a JSON value the SQL casts back)."""
    if sort == "name":
        return row["name"]
    if sort == "progress":
        return int(row["completed_lessons"])
    value: datetime | None = row["enrolled_at"] if sort == "enrolledAt" else row["last_activity"]
    return value.isoformat() if value is not None else NO_ACTIVITY


def _after(cursor: str | None, q: RosterQuery) -> tuple[Any, str] | None:
    key = decode_cursor(cursor)
    if key is None:
        return None
    if key.get("s") != q.sort or key.get("o") != q.order:
        raise _refuse("this cursor continues another sort or order")
    value, row_id = key.get("k"), key.get("id")
    try:
        parsed_id = str(uuid.UUID(str(row_id)))
    except ValueError:
        raise _refuse() from None
    if q.sort == "progress":
        if not isinstance(value, int) or isinstance(value, bool):
            raise _refuse()
    elif not isinstance(value, str):
        raise _refuse()
    elif q.sort in ("enrolledAt", "lastActivity") and value != NO_ACTIVITY:
        try:
            if datetime.fromisoformat(value).tzinfo is None:
                raise _refuse()
        except ValueError:
            raise _refuse() from None
    return value, parsed_id


def _percent(done: int, total: int) -> float:
    return round(100.0 * min(done, total) / total, 1) if total > 0 else 0.0


def _student(row: dict[str, Any]) -> RosterStudent:
    done, total = int(row["completed_lessons"]), int(row["total_lessons"])
    average = row["average_score"]
    return RosterStudent(
        id=row["id"],
        name=row["name"] or "",
        enrolled_at=row["enrolled_at"],
        completed_lessons=done,
        total_lessons=total,
        progress_percent=_percent(done, total),
        last_activity=row["last_activity"],
        average_quiz_score=round(float(average), 1) if average is not None else None,
        quizzes_attempted=int(row["quizzes_attempted"]),
    )


async def course_roster(
    ctx: AppContext, principal: Principal, course_id: str, q: RosterQuery, *, access: CourseAccess | None = None
) -> RosterPage:
    if access is None:  # the endpoint hands in what its relation check found
        await require_manager(ctx, principal, course_id)
    after = _after(q.cursor, q)
    async with ctx.db.connection() as conn:
        rows = await roster_sql.roster_page(
            conn, course_id, sort=q.sort, descending=q.order == "desc", after=after, limit=q.limit + 1
        )
    page = rows[: q.limit]
    next_cursor = None
    if len(rows) > q.limit and page:
        last = page[-1]
        next_cursor = encode_cursor({"s": q.sort, "o": q.order, "k": _sort_key(last, q.sort), "id": str(last["id"])})
    return RosterPage(items=[_student(r) for r in page], next_cursor=next_cursor)
