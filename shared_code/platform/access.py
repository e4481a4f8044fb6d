"""Who may do what with a course: the relation checks every area shares.

The relation is one of `admin`, `owner` (the tutor who owns the course), `enrolled`, or
`none`. A course the caller may not even see (an unpublished course of another tutor)
answers 404, so its existence does not leak; a visible one with the wrong relation, 403.

A course an admin has taken down (`services/admin/takedowns.py`) is hidden here for
everyone but admins and its owner: to students it is a 404 on every path that starts from
it (lessons, playback, materials, quizzes, classes, enrolment, checkout), as if it did not
exist. Its owner keeps reading it, flagged, but it is read-only to them (`frozen`): every
write through an endpoint's relation is refused with 409 `taken-down`
(`http/callers.py`), and nothing that hands its content on (a playback URL, a download
SAS, a live class connection) is issued (`require_deliverable`), since a signed URL can be
passed on to anyone until it expires.

These checks sit on every hot path (heartbeats, lesson reads, negotiate), so the course
row and the caller's enrolment come from the Redis cache when warm (`content_cache`),
with PostgreSQL behind it when cold or when Redis is down. Admins and owners never need
the enrolment lookup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import Forbidden, LecternError, NotFound, TakenDown
from shared_code.platform import content_cache

Relation = Literal["admin", "owner", "enrolled", "none"]

# The refusal for a caller who is not a member (enrolled, owning tutor, admin).
MEMBERS_ONLY = "Only students enrolled in this course, its tutor and admins may do this."
# The refusal of a change to (or a hand-on of) what an admin took down, to its tutor.
TAKEN_DOWN = "An admin took this down: it is read-only until an admin restores it."


@dataclass(frozen=True)
class CourseAccess:
    course_id: str
    owner_id: str
    title: str
    published: bool
    price_cents: int
    relation: Relation
    taken_down: bool = False

    @property
    def is_member(self) -> bool:
        return self.relation != "none"

    @property
    def can_manage(self) -> bool:
        return self.relation in ("owner", "admin")

    @property
    def frozen(self) -> bool:
        """Taken down, and the caller is not an admin: they may read it, never change or hand it on."""
        return self.taken_down and self.relation != "admin"


def is_taken_down(row: dict[str, Any]) -> bool:
    """Whether a course or material row is taken down (rows cached before the column existed are not)."""
    return row.get("taken_down_at") is not None


def hidden_from(principal: Principal, course: dict[str, Any]) -> bool:
    """Whether the caller may not see this course at all: a draft or a taken-down course,
    unless they own it or are an admin."""
    if principal.is_admin or _owns(principal, course):
        return False
    return not course["published"] or is_taken_down(course)


def refused(access: CourseAccess, refusal: str) -> LecternError:
    """The answer to a caller whose relation does not allow an action: 409 `taken-down`
    when the course is frozen to them, else 403 in the area's own words."""
    if access.frozen:
        return TakenDown(TAKEN_DOWN)
    return Forbidden(refusal)


def require_changeable(access: CourseAccess) -> CourseAccess:
    """Refuses (409) any change of a course frozen to the caller."""
    if access.frozen:
        raise TakenDown(TAKEN_DOWN)
    return access


def require_deliverable(access: CourseAccess) -> CourseAccess:
    """Refuses (409) to hand on the content of a course frozen to the caller (signed URLs, live joins)."""
    return require_changeable(access)


def material_access(taken_down: bool, access: CourseAccess) -> CourseAccess:
    """The caller's access to one material (`taken_down`: whether it is) of a course they
    may see: a taken-down material is a 404 to everyone but the course's managers, and
    frozen to its owner like a taken-down course (read-only, no download)."""
    if not taken_down:
        return access
    if not access.can_manage:
        raise NotFound("No such material.")
    return replace(access, taken_down=True)


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
    taken_down = is_taken_down(course)
    if (not course["published"] or taken_down) and relation not in ("admin", "owner"):
        raise NotFound(hidden)
    return CourseAccess(
        course_id=str(course["id"]),
        owner_id=str(course["owner_id"]),
        title=course["title"],
        published=bool(course["published"]),
        price_cents=int(course["price_cents"]),
        relation=relation,
        taken_down=taken_down,
    )


async def course_access(
    ctx: AppContext, principal: Principal, course_id: str, *, prefetched: content_cache.CoursePrefetch | None = None
) -> CourseAccess:
    """The course and the caller's relation to it; 404 when the caller may not see it. No
    round trip of its own when the endpoint `prefetched` the read beside the caller's checks."""
    course, enrolled = await content_cache.course_view(
        ctx, course_id, principal.user_id, _needs_membership(principal), prefetched=prefetched
    )
    if course is None:
        raise NotFound("No such course.")
    return decide(principal, course, enrolled)


async def lesson_access(
    ctx: AppContext, principal: Principal, lesson_id: str, *, prefetched: content_cache.LessonPrefetch | None = None
) -> tuple[dict[str, Any], CourseAccess]:
    """A lesson row (JSON-safe values) and the caller's access to its course; 404 when not visible.

    One Redis round trip when warm, for areas whose hot path starts from a lesson id; none
    of its own when the endpoint `prefetched` it beside the caller's checks.
    """
    lesson, course, enrolled = await content_cache.lesson_view(
        ctx, lesson_id, principal.user_id, _needs_membership(principal), prefetched=prefetched
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


async def require_manager(ctx: AppContext, principal: Principal, course_id: str) -> CourseAccess:
    """The owning tutor and admins; everyone else 403."""
    access = await course_access(ctx, principal, course_id)
    if not access.can_manage:
        raise Forbidden("Only the course's tutor and admins may do this.")
    return access


async def require_editor(ctx: AppContext, principal: Principal, course_id: str) -> CourseAccess:
    """The owning tutor and admins, for a change: 409 while the course is taken down (but to admins)."""
    return require_changeable(await require_manager(ctx, principal, course_id))
