"""Who may do what with a course: the relation checks every area shares.

The relation is one of `admin`, `owner` (the tutor who owns the course), `enrolled`, or
`none`. A course the caller may not even see (an unpublished course of another tutor)
answers 404, so its existence does not leak; a visible one with the wrong relation, 403.

These checks sit on every hot path (heartbeats, lesson reads, negotiate), so the course
row and the caller's enrolment come from the Redis cache when warm (`content_cache`),
with PostgreSQL behind it when cold or when Redis is down. Admins and owners never need
the enrolment lookup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import Forbidden, NotFound
from shared_code.platform import content_cache

Relation = Literal["admin", "owner", "enrolled", "none"]

# The refusal for a caller who is not a member (enrolled, owning tutor, admin).
MEMBERS_ONLY = "Only students enrolled in this course, its tutor and admins may do this."


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


def _owns(principal: Principal, course: dict[str, Any]) -> bool:
    return str(course["owner_id"]) == principal.user_id and principal.has_role("tutor")


def _needs_membership(principal: Principal) -> Callable[[dict[str, Any]], bool]:
    return lambda course: not principal.is_admin and not _owns(principal, course)


def decide(principal: Principal, course: dict[str, Any], enrolled: bool, *, hidden: str = "No such course.") -> CourseAccess:
    """The caller's relation to a course row; NotFound(`hidden`) when the caller may not see it."""
    relation: Relation
    if principal.is_admin:
        relation = "admin"
    elif _owns(principal, course):
        relation = "owner"
    elif enrolled:
        relation = "enrolled"
    else:
        relation = "none"
    if not course["published"] and relation not in ("admin", "owner"):
        raise NotFound(hidden)
    return CourseAccess(
        course_id=str(course["id"]),
        owner_id=str(course["owner_id"]),
        title=course["title"],
        published=bool(course["published"]),
        price_cents=int(course["price_cents"]),
        relation=relation,
    )


async def course_access(ctx: AppContext, principal: Principal, course_id: str) -> CourseAccess:
    """The course and the caller's relation to it; 404 when the caller may not see it."""
    course, enrolled = await content_cache.course_view(ctx, course_id, principal.user_id, _needs_membership(principal))
    if course is None:
        raise NotFound("No such course.")
    return decide(principal, course, enrolled)


async def lesson_access(ctx: AppContext, principal: Principal, lesson_id: str) -> tuple[dict[str, Any], CourseAccess]:
    """A lesson row (JSON-safe values) and the caller's access to its course; 404 when not visible.

    One Redis round trip when warm, for areas whose hot path starts from a lesson id.
    """
    lesson, course, enrolled = await content_cache.lesson_view(
        ctx, lesson_id, principal.user_id, _needs_membership(principal)
    )
    if lesson is None or course is None:
        raise NotFound("No such lesson.")
    return lesson, decide(principal, course, enrolled, hidden="No such lesson.")


async def require_member(ctx: AppContext, principal: Principal, course_id: str) -> CourseAccess:
    """Enrolled students, the owning tutor and admins; everyone else 403."""
    access = await course_access(ctx, principal, course_id)
    if not access.is_member:
        raise Forbidden(MEMBERS_ONLY)
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
