"""Enrolment: students join free courses themselves, admins enrol anyone, payments enrol buyers.

Every route ends in the same row (one per course and user; the first one stands), the
same cache write-through (so the very next lesson read sees the membership), and an
audit row. Enrolling twice is not an error: the existing enrolment is returned.

Leaving is the mirror image for free courses: the row is marked `left` (it and the
progress rows stay, so enrolling again picks up where the student stopped), the cached
membership is written `not enrolled` before the answer, so the next lesson read, playback,
heartbeat or class negotiate is refused, and open live connections are closed. A paid
enrolment ends only through a refund at the payment provider (the webhook ends it), so
the money and the access never disagree.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Literal

from shared_code.adapters.postgres import enrollments as enrollments_sql
from shared_code.adapters.postgres import users as users_sql
from shared_code.adapters.postgres.enrollments import EnrollmentRow
from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.postgres.rows import values
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import Forbidden, Invalid, NotFound
from shared_code.models.content import Enrollment, EnrollmentRequest
from shared_code.platform import audit, content_cache
from shared_code.platform.access import course_access
from shared_code.platform.users import ensure_user
from shared_code.services.live import presence
from shared_code.services.progress import dashboard

logger = logging.getLogger("lectern.enrollments")

Source = Literal["self", "admin", "payment"]

# Enrolments have a composite key; their wire id is derived from it, so it never changes.
_ID_NAMESPACE = uuid.UUID("0b7c5d1e-3f4a-4b6c-9d8e-5a1f2c3b4d6e")


def enrollment_id(course_id: str, user_id: str) -> uuid.UUID:
    return uuid.uuid5(_ID_NAMESPACE, f"{course_id}:{user_id}")


def enrollment_out(row: EnrollmentRow) -> Enrollment:
    return Enrollment(id=enrollment_id(str(row.course_id), str(row.user_id)), **values(row))


async def insert(conn: Conn, course_id: str, user_id: str, source: Source) -> tuple[EnrollmentRow, bool]:
    """The enrolment row and whether this call created it (inside the caller's transaction)."""
    row = await enrollments_sql.insert_enrollment(conn, course_id, user_id, source)
    if row is not None:
        return row, True
    existing = await enrollments_sql.get_enrollment(conn, course_id, user_id)
    assert existing is not None  # the conflicting row is committed, or the insert would have waited
    return existing, False


async def after_enrolment(
    ctx: AppContext, actor: Principal | None, row: EnrollmentRow, details: dict[str, Any] | None = None
) -> None:
    """What follows a committed new enrolment: the membership cache, the student's
    dashboard (it lists enrolled courses) and the audit row."""
    course_id, user_id = str(row.course_id), str(row.user_id)
    await content_cache.enrolled(ctx, course_id, user_id)
    await dashboard.invalidate_dashboard(ctx, user_id)
    await audit.record(
        ctx,
        actor,
        "enrollment.created",
        f"course/{course_id}/user/{user_id}",
        {"source": row.source, **(details or {})},
    )


async def enrol(ctx: AppContext, principal: Principal, course_id: str, body: EnrollmentRequest) -> tuple[int, Enrollment]:
    """201 with a new enrolment, 200 with the existing one."""
    target = str(body.user_id) if body.user_id else principal.user_id
    access = await course_access(ctx, principal, course_id)  # 404 for a draft the caller cannot see
    if principal.is_admin:
        source: Source = "admin"
    else:
        if not principal.has_role("student"):
            raise Forbidden("Only students enrol themselves; admins can enrol anyone.")
        if target != principal.user_id:
            raise Forbidden("Only admins can enrol someone else.")
        if access.price_cents > 0:
            raise Invalid("This course is paid: pay through checkout, and the payment enrols you.")
        source = "self"

    if target == principal.user_id:
        await ensure_user(ctx, principal)
    async with ctx.db.transaction() as conn:
        if target != principal.user_id and await users_sql.get_user(conn, target) is None:
            raise NotFound("No such user: they must sign in once before an admin can enrol them.")
        row, created = await insert(conn, course_id, target, source)
    if created:
        await after_enrolment(ctx, principal, row)
    return (201 if created else 200), enrollment_out(row)


async def leave(ctx: AppContext, principal: Principal, course_id: str) -> None:
    """Ends the caller's own enrolment in a free course: 404 when not enrolled, 422 when paid."""
    user_id = principal.user_id
    async with ctx.db.transaction() as conn:
        row = await enrollments_sql.lock_active_with_price(conn, course_id, user_id)
        if row is None:
            raise NotFound("You are not enrolled in this course.")
        if row.price_cents > 0:
            raise Invalid(
                "This course is paid: ask for a refund through the payment provider; the refund ends the enrolment.",
                title="A paid enrolment ends only through a refund",
            )
        await enrollments_sql.end_enrollment(conn, course_id, user_id, status="left")
    await content_cache.unenrolled(ctx, course_id, user_id)
    await dashboard.invalidate_dashboard(ctx, user_id)
    await presence.leave_course_classes(ctx, course_id, user_id, "You left this course.")
    await audit.record(
        ctx, principal, "enrollment.ended", f"course/{course_id}/user/{user_id}",
        {"reason": "left", "source": row.source},
    )
