"""Who may do what in a live class, and the class facts that every live event needs.

A class belongs to a course, so the relation comes from `platform/access.py`: the course's
owning tutor, an admin, an enrolled student, or nobody. A class of a course the caller may
not see answers 404; a visible class with the wrong relation, 403. On top of that a class
has its own moderation: a removed (banned) user is no longer a member of that class.

The hot path (events from a thousand connections) reads the class's status and moderation
flags from Redis, filled from PostgreSQL on a miss; PostgreSQL answers when Redis is down.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis.exceptions import RedisError

from shared_code.adapters.postgres import classes as classes_sql
from shared_code.adapters.postgres import moderation as moderation_sql
from shared_code.adapters.postgres.classes import ClassRow
from shared_code.adapters.redis import live as live_redis
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import Forbidden, NotFound
from shared_code.platform import access
from shared_code.platform.access import CourseAccess

logger = logging.getLogger("lectern.live")


@dataclass(frozen=True)
class ClassAccess:
    """A class and the caller's relation to its course."""

    row: ClassRow
    course: CourseAccess

    @property
    def class_id(self) -> str:
        return str(self.row.id)

    @property
    def course_id(self) -> str:
        return str(self.row.course_id)

    @property
    def status(self) -> str:
        return self.row.status

    @property
    def is_owner(self) -> bool:
        return self.course.relation == "owner"

    @property
    def can_manage(self) -> bool:
        return self.course.can_manage

    @property
    def role(self) -> str:
        return class_role(self.course.relation)


def class_role(relation: str) -> str:
    """A member's role inside a class from their relation to its course: tutor, admin or student."""
    return {"owner": "tutor", "admin": "admin"}.get(relation, "student")


async def load(ctx: AppContext, principal: Principal, class_id: str) -> ClassAccess:
    async with ctx.db.connection() as conn:
        row = await classes_sql.get_class(conn, class_id)
    if row is None:
        raise NotFound("No such class.")
    try:
        course = await access.course_access(ctx, principal, str(row.course_id))
    except NotFound:
        raise NotFound("No such class.") from None
    return ClassAccess(row=row, course=course)


async def require_member(ctx: AppContext, principal: Principal, class_id: str) -> ClassAccess:
    """Enrolled students not removed from the class, the owning tutor, admins."""
    found = await load(ctx, principal, class_id)
    if not found.course.is_member:
        raise Forbidden(access.MEMBERS_ONLY)
    if not found.can_manage and "b" in await moderation_flags(ctx, found.class_id, principal.user_id):
        raise Forbidden("You were removed from this class.")
    return found


async def require_owner(ctx: AppContext, principal: Principal, class_id: str) -> ClassAccess:
    """Only the tutor who owns the class's course."""
    found = await load(ctx, principal, class_id)
    if not found.is_owner:
        raise Forbidden("Only the class's tutor may do this.")
    return found


async def require_manager(ctx: AppContext, principal: Principal, class_id: str) -> ClassAccess:
    """The owning tutor and admins."""
    found = await load(ctx, principal, class_id)
    if not found.can_manage:
        raise Forbidden("Only the class's tutor and admins may do this.")
    return found


# --- moderation flags -----------------------------------------------------------------
def flags_text(muted: bool, banned: bool) -> str:
    return ("m" if muted else "") + ("b" if banned else "")


async def moderation_flags(ctx: AppContext, class_id: str, user_id: str) -> str:
    """'' / 'm' (muted) / 'b' (removed) / 'mb' for one user in one class."""
    try:
        cached = await live_redis.moderation_flags(ctx.redis, class_id, user_id)
        if cached is not None:
            return cached
        async with ctx.db.connection() as conn:
            rows = await moderation_sql.flags_of_class(conn, class_id)
        flags = {uid: flags_text(r["muted"], r["banned"]) for uid, r in rows.items()}
        await live_redis.fill_moderation(ctx.redis, class_id, flags)
        return flags.get(user_id, "")
    except RedisError as exc:
        logger.warning("moderation flags from PostgreSQL, Redis unavailable: %s", type(exc).__name__)
        async with ctx.db.connection() as conn:
            row = await moderation_sql.flags_of_user(conn, class_id, user_id)
        return flags_text(row["muted"], row["banned"]) if row else ""


# --- class facts for live events ------------------------------------------------------
@dataclass(frozen=True)
class ClassMeta:
    class_id: str
    course_id: str
    tutor_id: str
    title: str
    status: str
    cold: bool = False  # Redis did not have it: its other hot state may be gone too


def meta_fields(row: ClassRow) -> dict[str, str]:
    return {"courseId": str(row.course_id), "tutorId": str(row.tutor_id), "title": row.title, "status": row.status}


async def class_meta(ctx: AppContext, class_id: str) -> ClassMeta:
    """The class's status and owners, from Redis (filled from PostgreSQL on a miss)."""
    meta: dict[str, str] = {}
    try:
        meta = await live_redis.read_meta(ctx.redis, class_id)
    except RedisError as exc:
        logger.warning("class meta from PostgreSQL, Redis unavailable: %s", type(exc).__name__)
    cold = not {"courseId", "status"}.issubset(meta)
    if cold:
        async with ctx.db.connection() as conn:
            row = await classes_sql.get_class(conn, class_id)
        if row is None:
            raise NotFound("No such class.")
        fields = meta_fields(row)
        try:
            await live_redis.store_meta(ctx.redis, class_id, fields)
        except RedisError:
            pass
        meta = {**fields, **meta}
    return ClassMeta(class_id, meta["courseId"], meta.get("tutorId", ""), meta.get("title", ""), meta["status"], cold)


# --- a connection in a class ----------------------------------------------------------------
@dataclass(frozen=True)
class Member:
    """A connection in a class, as its `ce-connectionState` describes it (set at connect)."""

    connection_id: str
    user_id: str
    class_id: str
    course_id: str
    role: str
    name: str

    @property
    def is_tutor(self) -> bool:
        return self.role == "tutor"

    @property
    def is_staff(self) -> bool:
        return self.role in ("tutor", "admin")
