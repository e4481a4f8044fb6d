"""The student app's view of the caller: their stored profile and their enrolments.

Both read our own rows, never the token: the name and roles are what the users table
holds (admins set roles), and an enrolment's progress is counted from the completions
the server recorded.
"""

from __future__ import annotations

from shared_code.adapters.postgres import enrollments as enrollments_sql
from shared_code.adapters.postgres import users as users_sql
from shared_code.adapters.postgres.enrollments import EnrollmentListing
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import NotFound
from shared_code.models.me import MyEnrollment, MyEnrollmentPage, Profile
from shared_code.services.content.paging import position_of, split_page


async def get_profile(ctx: AppContext, principal: Principal) -> Profile:
    async with ctx.db.connection() as conn:
        row = await users_sql.get_user(conn, principal.user_id)
    if row is None:  # signing in makes the row, so only a deleted account lands here
        raise NotFound("No such user.")
    return Profile(id=row.id, name=row.name or "", email=row.email, roles=list(row.roles or []), created_at=row.created_at)


def percent(done: int, total: int) -> float:
    return round(100.0 * min(done, total) / total, 1) if total > 0 else 0.0


def _enrollment(row: EnrollmentListing) -> MyEnrollment:
    total, done = row.lessons_total, row.completed_lessons
    return MyEnrollment(
        course_id=row.id,
        title=row.title,
        enrolled_at=row.enrolled_at,
        status=row.status,
        progress_percent=percent(done, total),
        completed_lessons=min(done, total),
        lessons_total=total,
    )


async def list_enrollments(ctx: AppContext, principal: Principal, *, limit: int, cursor: str | None) -> MyEnrollmentPage:
    """The caller's enrolments, newest first, ended ones included with their status."""
    after = position_of(cursor)
    async with ctx.db.connection() as conn:
        rows = await enrollments_sql.page_of_user(conn, principal.user_id, after=after, limit=limit + 1)
    page, next_cursor = split_page(rows, limit, "enrolled_at")
    return MyEnrollmentPage(items=[_enrollment(r) for r in page], next_cursor=next_cursor)
