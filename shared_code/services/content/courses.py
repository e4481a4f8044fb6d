"""Courses and their ordered lessons: create, edit, publish, read.

Visibility: students see published courses; a tutor also sees their own drafts; admins
see everything. A draft is a 404 to anyone else, so its existence does not leak. Reads
come from the metadata cache (`content_cache`); every write replaces the course's cache
generation before it answers, so the next read anywhere sees the write.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pydantic.alias_generators import to_camel

from shared_code.adapters.postgres import courses as courses_sql
from shared_code.adapters.postgres import lessons as lessons_sql
from shared_code.adapters.postgres import materials as materials_sql
from shared_code.adapters.postgres.courses import CourseRow
from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.postgres.rows import values
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.domain.cache_entries import plain
from shared_code.errors import FieldError, Forbidden, Invalid, NotFound
from shared_code.models.content import (
    Course,
    CourseCreate,
    CourseDetail,
    CourseUpdate,
    Lesson,
    LessonCreate,
    LessonUpdate,
)
from shared_code.platform import audit, content_cache, idempotency
from shared_code.platform.access import CourseAccess, hidden_from, lesson_access, refused, require_editor
from shared_code.platform.users import ensure_user
from shared_code.services.content import videos


def _course_out(row: CourseRow | dict[str, Any]) -> Course:
    """The wire course from a row or from the content cache's dict of one."""
    return Course.model_validate(row)


def lesson_out(row: Mapping[str, Any], *, show_asset: bool) -> Lesson:
    """A lesson as the caller may see it: the raw asset id only for those who manage the course."""
    return Lesson(
        id=row["id"],
        course_id=row["course_id"],
        title=row["title"],
        kind=row["kind"],
        video_asset_id=row["video_asset_id"] if show_asset else None,
        has_video=row["kind"] == "video" and bool(row["video_asset_id"]),
        duration_seconds=row["duration_seconds"],
        material_id=row.get("material_id"),
        position=row["position"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _manages(principal: Principal, course: dict[str, Any]) -> bool:
    return principal.is_admin or (str(course["owner_id"]) == principal.user_id and principal.has_role("tutor"))


# --- reads (the catalog listing is in catalog.py) -------------------------------------
async def get_course(ctx: AppContext, principal: Principal, course_id: str) -> CourseDetail:
    course, lessons = await content_cache.course_detail(ctx, course_id)
    if course is None or hidden_from(principal, course):
        raise NotFound("No such course.")
    show = _manages(principal, course)
    return CourseDetail(**_course_out(course).model_dump(), lessons=[lesson_out(r, show_asset=show) for r in lessons])


async def get_lesson(
    ctx: AppContext, principal: Principal, lesson_id: str, *, found: tuple[dict[str, Any], CourseAccess] | None = None
) -> Lesson:
    lesson, access = found or await lesson_access(ctx, principal, lesson_id)
    if not access.is_member:
        raise Forbidden(READERS_ONLY)
    return lesson_out(lesson, show_asset=access.can_manage)


READERS_ONLY = "Only students enrolled in this course, its tutor and admins may read its lessons."
_RENDERED_MAX = 10_000


async def lesson_body(
    ctx: AppContext, principal: Principal, lesson_id: str, *, found: tuple[dict[str, Any], CourseAccess] | None = None
) -> bytes:
    """`get_lesson` as the JSON bytes of its answer, rendered once per cached entry.

    The content cache hands out the same parsed value for the same entry text, and an
    entry's text names the generation it was read under (a write makes a new one), so a
    rendering kept beside the very value it came from is current exactly when the value
    handed in is that value: a check by identity, with no read of its own.
    """
    lesson, access = found or await lesson_access(ctx, principal, lesson_id)
    if not access.is_member:
        raise Forbidden(READERS_ONLY)
    show = access.can_manage
    rendered = ctx.content_cache.rendered
    kept = rendered.get((lesson_id, show))
    if kept is not None and kept[0] is lesson:
        return kept[1]
    body = lesson_out(lesson, show_asset=show).model_dump_json(by_alias=True).encode()
    if len(rendered) >= _RENDERED_MAX:
        rendered.clear()
    rendered[(lesson_id, show)] = (lesson, body)
    return body


# --- writes ----------------------------------------------------------------------------
async def create_course(
    ctx: AppContext, principal: Principal, body: CourseCreate, *, idempotency_key: str | None
) -> tuple[int, dict[str, Any]]:
    await ensure_user(ctx, principal)

    async def insert(conn: Conn) -> tuple[int, dict[str, Any]]:
        row = await courses_sql.insert_course(
            conn,
            course_id=str(uuid.uuid4()),
            owner_id=principal.user_id,
            title=body.title,
            description=body.description,
            price_cents=body.price_cents,
            currency=(body.currency or ctx.settings.payment_default_currency).upper(),
        )
        return 201, _course_out(row).model_dump(mode="json", by_alias=True)

    outcome = await idempotency.run_once(
        ctx,
        user_id=principal.user_id,
        scope="courses.create",
        key=idempotency_key,
        body=body.model_dump(mode="json"),
        action=insert,
    )
    if not outcome.replayed:
        course = outcome.body
        after = {k: course.get(k) for k in ("title", "description", "priceCents", "currency", "published")}
        await audit.record(ctx, principal, "course.created", f"course/{course['id']}", {"before": None, "after": after})
    return outcome.status, outcome.body


async def update_course(
    ctx: AppContext, principal: Principal, course_id: str, body: CourseUpdate, *, access: CourseAccess | None = None
) -> Course:
    if access is None:  # the endpoint hands in what its relation check found
        await require_editor(ctx, principal, course_id)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "currency" in changes:
        changes["currency"] = changes["currency"].upper()
    async with ctx.db.transaction() as conn:
        current = await courses_sql.lock_course(conn, course_id)
        if current is None:
            raise NotFound("No such course.")
        changes = {k: v for k, v in changes.items() if getattr(current, k) != v}
        row = await courses_sql.update_course(conn, course_id, changes) if changes else current
        if row is None:
            raise NotFound("No such course.")
    if not changes:
        return _course_out(row)
    await content_cache.course_changed(ctx, course_id)
    await _audit_edit(ctx, principal, course_id, current, row, changes)
    return _course_out(row)


# Fields whose change is a price change: audited as their own action, so an admin can find
# every price change of the platform with one filter.
PRICE_FIELDS = ("price_cents", "currency")


async def _audit_edit(
    ctx: AppContext, principal: Principal, course_id: str, before: CourseRow, after: CourseRow,
    changes: dict[str, Any],
) -> None:
    """One audit row per kind of change, each field in exactly one: publishing, the price,
    everything else; each with the values before and after (wire names)."""
    target = f"course/{course_id}"
    if "published" in changes:
        action = "course.published" if changes["published"] else "course.unpublished"
        await audit.record(ctx, principal, action, target,
                           {"title": after.title, **_before_after(before, after, ["published"])})
    price = [k for k in changes if k in PRICE_FIELDS]
    if price:
        await audit.record(ctx, principal, "course.price.changed", target, _before_after(before, after, price))
    edited = [k for k in changes if k != "published" and k not in PRICE_FIELDS]
    if edited:
        await audit.record(ctx, principal, "course.updated", target, _before_after(before, after, edited))


def _before_after(before: CourseRow, after: CourseRow, fields: list[str]) -> dict[str, Any]:
    return {
        "before": {to_camel(k): plain(getattr(before, k)) for k in fields},
        "after": {to_camel(k): plain(getattr(after, k)) for k in fields},
    }


async def add_lesson(
    ctx: AppContext,
    principal: Principal,
    course_id: str,
    body: LessonCreate,
    *,
    idempotency_key: str | None,
    access: CourseAccess | None = None,
) -> tuple[int, dict[str, Any]]:
    if access is None:  # the endpoint hands in what its relation check found
        await require_editor(ctx, principal, course_id)
    if body.video_asset_id is not None and body.kind != "video":
        raise Invalid(
            "Only video lessons carry a video asset.",
            errors=[FieldError("videoAssetId", "allowed only when kind is 'video'")],
        )
    material_id = str(body.material_id) if body.material_id is not None else None
    if material_id is not None and body.kind != "document":
        raise Invalid(_DOCUMENTS_ONLY, errors=[FieldError("materialId", "allowed only when kind is 'document'")])

    async def insert(conn: Conn) -> tuple[int, dict[str, Any]]:
        # The course row lock serialises lesson inserts, so positions stay dense and unique.
        course = await courses_sql.lock_course(conn, course_id)
        if course is None:
            raise NotFound("No such course.")
        duration = body.duration_seconds
        if body.video_asset_id is not None:
            asset = await videos.asset_for_lesson(
                conn, principal, body.video_asset_id, course_id=course_id, course_owner_id=str(course.owner_id)
            )
            # The registry knows the video's length; the lesson takes it unless the tutor set one.
            if duration is None:
                duration = asset.duration_seconds
        if material_id is not None:
            await _require_course_material(conn, material_id, course_id)
        count = await lessons_sql.count_lessons(conn, course_id)
        position = count if body.position is None else min(body.position, count)
        if position < count:
            await lessons_sql.make_room(conn, course_id, position)
        row = await lessons_sql.insert_lesson(
            conn,
            lesson_id=str(uuid.uuid4()),
            course_id=course_id,
            title=body.title,
            kind=body.kind,
            video_asset_id=body.video_asset_id,
            duration_seconds=duration,
            position=position,
            material_id=material_id,
        )
        return 201, lesson_out(values(row), show_asset=True).model_dump(mode="json", by_alias=True)

    outcome = await idempotency.run_once(
        ctx,
        user_id=principal.user_id,
        scope=f"lessons.create:{course_id}",
        key=idempotency_key,
        body=body.model_dump(mode="json"),
        action=insert,
    )
    if not outcome.replayed:
        lesson = outcome.body
        content_cache.lesson_added(ctx, str(lesson["id"]), course_id)
        await content_cache.course_changed(ctx, course_id)
        after = {k: lesson.get(k) for k in ("title", "kind", "videoAssetId", "durationSeconds", "materialId", "position")}
        await audit.record(
            ctx, principal, "lesson.added", f"lesson/{lesson['id']}", {"courseId": course_id, "before": None, "after": after}
        )
    return outcome.status, outcome.body


# The fields of a lesson an audit row shows, by their wire names.
_AUDITED_LESSON = {
    "title": "title", "video_asset_id": "videoAssetId", "duration_seconds": "durationSeconds", "material_id": "materialId",
}
_DOCUMENTS_ONLY = "Only document lessons name a material (its download completes them)."


async def _require_course_material(conn: Conn, material_id: str, course_id: str) -> None:
    """422 unless the material belongs to this course (it may still be pending)."""
    material = await materials_sql.get_material(conn, material_id)
    if material is None or str(material.course_id) != course_id:
        raise Invalid(
            "A lesson can only name a material of its own course.",
            errors=[FieldError("materialId", "no material of this course has this id")],
        )


async def update_lesson(
    ctx: AppContext,
    principal: Principal,
    lesson_id: str,
    body: LessonUpdate,
    *,
    found: tuple[dict[str, Any], CourseAccess] | None = None,
) -> Lesson:
    """Edits a lesson's title, video or duration; audited with what changed before and after.

    A new video passes the same registry check as on create, and a video lesson left
    without a duration takes the new video's, so a lesson never loses its server-known length.
    """
    _, access = found or await lesson_access(ctx, principal, lesson_id)
    if not access.can_manage or access.frozen:
        raise refused(access, "Only the course's tutor and admins may edit its lessons.")
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    async with ctx.db.transaction() as conn:
        current = await lessons_sql.lock_lesson(conn, lesson_id)
        if current is None:
            raise NotFound("No such lesson.")
        if "video_asset_id" in changes:
            if current.kind != "video":
                raise Invalid(
                    "Only video lessons carry a video asset.",
                    errors=[FieldError("videoAssetId", "allowed only when kind is 'video'")],
                )
            asset = await videos.asset_for_lesson(
                conn, principal, changes["video_asset_id"], course_id=access.course_id, course_owner_id=access.owner_id
            )
            if "duration_seconds" not in changes and current.duration_seconds is None and asset.duration_seconds:
                changes["duration_seconds"] = asset.duration_seconds
        if "material_id" in changes:
            if current.kind != "document":
                raise Invalid(_DOCUMENTS_ONLY, errors=[FieldError("materialId", "allowed only when kind is 'document'")])
            changes["material_id"] = str(changes["material_id"])
            await _require_course_material(conn, changes["material_id"], access.course_id)
        changes = {k: v for k, v in changes.items() if plain(getattr(current, k)) != plain(v)}
        row = await lessons_sql.update_lesson(conn, lesson_id, changes) if changes else current
        if row is None:
            raise NotFound("No such lesson.")
    if not changes:
        return lesson_out(values(row), show_asset=True)
    await content_cache.course_changed(ctx, access.course_id)
    before = {_AUDITED_LESSON[k]: plain(getattr(current, k)) for k in changes}
    after = {_AUDITED_LESSON[k]: plain(getattr(row, k)) for k in changes}
    await audit.record(
        ctx, principal, "lesson.updated", f"lesson/{lesson_id}",
        {"courseId": access.course_id, "before": before, "after": after},
    )
    return lesson_out(values(row), show_asset=True)
