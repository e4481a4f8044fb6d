"""Takedowns: an admin hides a course or a material everywhere, and restores it.

The course row carries the takedown (`taken_down_at`, the reason, the admin); the shared
access check (`platform/access.py` `decide`) then answers 404 to everyone but admins and
the course's tutor on every path that starts from the course, a lesson, a material, a
quiz or a class, and the catalog, the dashboards and personal live connections leave it
out. To its tutor it stays visible, flagged, and read-only (409 `taken-down` on any
change, and no playback URL, download or live join). Taking down and restoring each:

- commit the row change, then replace the course's cache generation (every cached course,
  lesson and membership entry read before stops counting, in every process) and retire
  every dashboard snapshot (one key), both before answering;
- end the course's running classes (`class.ended` goes out and the connections leave the
  class group; a student cannot reconnect, the connect event asks `decide` again);
- leave an audit row with the takedown state before and after.

Nothing is deleted, so a restore brings back exactly what was there (the lessons,
materials, enrolments, progress and scores). Already issued signed URLs live out their
few minutes (`SAS_MINUTES`, `VIDEO_URL_MINUTES`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from shared_code.adapters.postgres import classes as classes_sql
from shared_code.adapters.postgres import courses as courses_sql
from shared_code.adapters.postgres import materials as materials_sql
from shared_code.adapters.postgres.courses import CourseRow
from shared_code.adapters.postgres.materials import MaterialRow
from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.postgres.rows import values
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.domain.cache_entries import plain
from shared_code.errors import NotFound
from shared_code.models.admin import Takedown
from shared_code.platform import access, audit, content_cache
from shared_code.platform.users import ensure_user
from shared_code.services.live import classes as live_classes
from shared_code.services.live.class_access import ClassAccess
from shared_code.services.progress import dashboard

logger = logging.getLogger("lectern.admin.takedowns")


def _state(row: CourseRow | MaterialRow) -> dict[str, Any]:
    """What an audit row records of a takedown (wire names)."""
    return {
        "takenDown": row.taken_down_at is not None,
        "takenDownAt": plain(row.taken_down_at),
        "reason": row.taken_down_reason,
        "by": plain(row.taken_down_by),
    }


def _out(kind: Literal["course", "material"], row: CourseRow | MaterialRow, course_id: str) -> Takedown:
    return Takedown(
        kind=kind,
        id=row.id,
        course_id=course_id,
        taken_down=row.taken_down_at is not None,
        taken_down_at=row.taken_down_at,
        taken_down_reason=row.taken_down_reason,
        taken_down_by=row.taken_down_by,
    )


async def _flip[R: (CourseRow, MaterialRow)](
    ctx: AppContext,
    actor: Principal,
    target_id: str,
    reason: str | None,
    lock: Callable[[Conn, str], Awaitable[R | None]],
    write: Callable[..., Awaitable[R | None]],
    missing: str,
) -> tuple[R, R, bool]:
    """Locks the course or material row and takes it down (`reason`) or restores it (None):
    (before, after, whether it changed). Doing it twice changes nothing."""
    await ensure_user(ctx, actor)  # the row names the admin
    async with ctx.db.transaction() as conn:
        before = await lock(conn, target_id)
        if before is None:
            raise NotFound(missing)
        if (before.taken_down_at is not None) == (reason is not None):
            return before, before, False
        row = await write(conn, target_id, reason=reason, by=actor.user_id if reason is not None else None)
        assert row is not None  # the row is locked
        return before, row, True


async def _everywhere(ctx: AppContext, course_id: str) -> None:
    """What every path reads the course through forgets what it read before the change."""
    await content_cache.course_changed(ctx, course_id)
    await dashboard.invalidate_all_dashboards(ctx)


async def set_course(ctx: AppContext, actor: Principal, course_id: str, reason: str | None) -> Takedown:
    """Takes the course down (`reason`) or restores it (None); doing it twice changes nothing."""
    before, row, changed = await _flip(
        ctx, actor, course_id, reason, courses_sql.lock_course, courses_sql.set_takedown, "No such course."
    )
    if not changed:
        return _out("course", row, course_id)
    await _everywhere(ctx, course_id)
    action = "course.taken_down" if reason is not None else "course.restored"
    await audit.record(ctx, actor, action, f"course/{course_id}",
                       {"title": row.title, "before": _state(before), "after": _state(row)})
    if reason is not None:
        await _end_running_classes(ctx, actor, row)
    return _out("course", row, course_id)


async def _end_running_classes(ctx: AppContext, actor: Principal, course: CourseRow) -> None:
    """Ends the course's live classes as their tutor would, so nobody keeps watching."""
    async with ctx.db.connection() as conn:
        running = await classes_sql.live_in_course(conn, str(course.id))
    course_access = access.decide(actor, plain(values(course)), False)  # the shape the content cache holds
    for row in running:
        try:
            await live_classes.end_class(ctx, actor, str(row.id), found=ClassAccess(row=row, course=course_access))
        except Exception:  # noqa: BLE001 - the takedown stands; connect events refuse the class anyway
            logger.exception("a running class of a taken-down course did not end: %s", row.id)


async def set_material(ctx: AppContext, actor: Principal, material_id: str, reason: str | None) -> Takedown:
    """Takes the material down (`reason`) or restores it (None); doing it twice changes nothing."""
    before, row, changed = await _flip(
        ctx, actor, material_id, reason, materials_sql.lock_material, materials_sql.set_takedown, "No such material."
    )
    course_id = str(row.course_id)
    if not changed:
        return _out("material", row, course_id)
    await content_cache.course_changed(ctx, course_id)  # materials are read uncached; this is for what may cache them
    action = "material.taken_down" if reason is not None else "material.restored"
    await audit.record(ctx, actor, action, f"material/{material_id}",
                       {"courseId": course_id, "fileName": row.file_name, "before": _state(before), "after": _state(row)})
    return _out("material", row, course_id)
