"""Who may do what with a course: the relation checks every area shares.

The relation is one of `admin`, `owner` (the tutor who owns the course), `enrolled`, or
`none`. A course the caller may not even see (an unpublished course of another tutor)
answers 404, so its existence does not leak; a visible one with the wrong relation, 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared_code.adapters.postgres import access as access_sql
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import Forbidden, NotFound

Relation = Literal["admin", "owner", "enrolled", "none"]


@dataclass(frozen=True)
class CourseAccess:
    course_id: str
    owner_id: str
    title: str
    published: bool
    price_cents: int
    relation: Relation

    @property
    def is_member(self) -> bool:
        return self.relation != "none"

    @property
    def can_manage(self) -> bool:
        return self.relation in ("owner", "admin")


async def course_access(ctx: AppContext, principal: Principal, course_id: str) -> CourseAccess:
    """The course and the caller's relation to it; 404 when the caller may not see it."""
    async with ctx.db.connection() as conn:
        row = await access_sql.course_with_enrolment(conn, course_id, principal.user_id)
    if row is None:
        raise NotFound("No such course.")
    owner_id = str(row["owner_id"])
    relation: Relation
    if principal.is_admin:
        relation = "admin"
    elif owner_id == principal.user_id and principal.has_role("tutor"):
        relation = "owner"
    elif row["enrolled"]:
        relation = "enrolled"
    else:
        relation = "none"
    if not row["published"] and relation not in ("admin", "owner"):
        raise NotFound("No such course.")
    return CourseAccess(
        course_id=str(row["id"]),
        owner_id=owner_id,
        title=row["title"],
        published=row["published"],
        price_cents=row["price_cents"],
        relation=relation,
    )


async def require_member(ctx: AppContext, principal: Principal, course_id: str) -> CourseAccess:
    """Enrolled students, the owning tutor and admins; everyone else 403."""
    access = await course_access(ctx, principal, course_id)
    if not access.is_member:
        raise Forbidden("Only students enrolled in this course, its tutor and admins may do this.")
    return access


async def require_enrolled_student(ctx: AppContext, principal: Principal, course_id: str) -> CourseAccess:
    """Only an enrolled student (progress, quiz attempts)."""
    access = await course_access(ctx, principal, course_id)
    if access.relation != "enrolled" or not principal.has_role("student"):
        raise Forbidden("Only students enrolled in this course may do this.")
    return access


async def require_manager(ctx: AppContext, principal: Principal, course_id: str) -> CourseAccess:
    """The owning tutor and admins; everyone else 403."""
    access = await course_access(ctx, principal, course_id)
    if not access.can_manage:
        raise Forbidden("Only the course's tutor and admins may do this.")
    return access
