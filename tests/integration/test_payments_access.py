"""A refunded enrolment stops counting on every path an access check can take: PostgreSQL
with the cache off, a cold cache that fills from PostgreSQL, and a warm cache the refund
overwrote. Its row (and the progress behind it) stays, and enrolling again revives it."""

from __future__ import annotations

import uuid

import pytest

from shared_code.adapters.postgres import analytics as analytics_sql
from shared_code.adapters.postgres import enrollments as enrollments_sql
from shared_code.adapters.postgres import progress as progress_sql
from shared_code.adapters.redis import keys
from shared_code.context import AppContext
from shared_code.errors import Forbidden
from shared_code.models.content import CourseCreate, CourseUpdate, EnrollmentRequest, LessonCreate, VideoCreate
from shared_code.platform import access, content_cache, outbox
from shared_code.services.content import courses, enrollments, videos
from tests.integration.conftest import person


async def _enrolled(ctx: AppContext):
    tutor, student = person("tutor"), person("student")
    _, course = await courses.create_course(ctx, tutor, CourseCreate(title="Refunds", description="d"), idempotency_key=None)
    course_id = str(course["id"])
    video = await videos.register_video(ctx, tutor, VideoCreate(title="One", duration_seconds=60))
    _, lesson = await courses.add_lesson(
        ctx, tutor, course_id, LessonCreate(title="One", kind="video", video_asset_id=str(video.id)),
        idempotency_key=None,
    )
    await courses.update_course(ctx, tutor, course_id, CourseUpdate(published=True))
    await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())
    await courses.get_lesson(ctx, student, str(lesson["id"]))
    return student, course_id, str(lesson["id"])


async def _end(ctx: AppContext, course_id: str, user_id: str) -> None:
    async with ctx.db.transaction() as conn:
        assert await enrollments_sql.end_enrollment(conn, course_id, user_id)


async def test_a_refunded_enrolment_does_not_count_with_the_cache_off(ctx):
    student, course_id, lesson_id = await _enrolled(ctx)
    await _end(ctx, course_id, student.user_id)
    off = AppContext(**{**ctx.__dict__, "settings": ctx.settings.model_copy(update={"cache_enabled": False})})
    with pytest.raises(Forbidden):
        await courses.get_lesson(off, student, lesson_id)
    assert (await access.course_access(off, student, course_id)).relation == "none"
    async with ctx.db.connection() as conn:
        assert course_id not in await enrollments_sql.course_ids_of(conn, student.user_id)
        assert await enrollments_sql.get_enrollment(conn, course_id, student.user_id) is not None  # the row stays


async def test_a_refunded_enrolment_does_not_count_when_the_cache_fills_cold(ctx):
    student, course_id, lesson_id = await _enrolled(ctx)
    await _end(ctx, course_id, student.user_id)
    await ctx.redis.delete(keys.content_member(course_id, student.user_id))
    with pytest.raises(Forbidden):
        await courses.get_lesson(ctx, student, lesson_id)


async def test_the_refund_overwrites_a_warm_cached_membership_and_enrolling_again_revives_it(ctx):
    student, course_id, lesson_id = await _enrolled(ctx)
    await _end(ctx, course_id, student.user_id)
    await content_cache.unenrolled(ctx, course_id, student.user_id)
    with pytest.raises(Forbidden):
        await courses.get_lesson(ctx, student, lesson_id)
    status, _ = await enrollments.enrol(ctx, person("admin"), course_id, EnrollmentRequest(user_id=student.user_id))
    assert status == 201
    await courses.get_lesson(ctx, student, lesson_id)


async def test_the_membership_overwrite_is_an_outbox_effect_so_a_redis_outage_cannot_lose_it(ctx, redis_server):
    course_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())
    key = keys.content_member(course_id, user_id)
    await ctx.redis.set(key, "1")
    assert await outbox.perform(ctx, "cache.mark_not_enrolled", {"courseId": course_id, "userId": user_id}) is True
    assert await ctx.redis.get(key) == "0"
    redis_server.kill()
    # Queued for retry instead of raising into the webhook that already committed the refund.
    await content_cache.unenrolled(ctx, course_id, user_id)


async def test_a_purchase_mark_retried_after_the_refund_does_not_let_the_student_back_in(ctx):
    # The purchase's write-through failed and was queued; the refund came (and wrote its
    # `0`) before the queue's retry of the purchase's mark ran.
    student, course_id, lesson_id = await _enrolled(ctx)
    await _end(ctx, course_id, student.user_id)
    await content_cache.unenrolled(ctx, course_id, student.user_id)
    late = {"id": str(uuid.uuid4()), "kind": "cache.mark_enrolled", "attempt": 2, "reason": "ConnectionError",
            "payload": {"courseId": course_id, "userId": student.user_id}}

    assert await outbox.retry(ctx, late) == "done"

    assert await ctx.redis.get(keys.content_member(course_id, student.user_id)) == "0"
    with pytest.raises(Forbidden):
        await courses.get_lesson(ctx, student, lesson_id)


async def test_a_refund_mark_retried_after_enrolling_again_does_not_lock_the_student_out(ctx):
    student, course_id, lesson_id = await _enrolled(ctx)
    await _end(ctx, course_id, student.user_id)
    status, _ = await enrollments.enrol(ctx, person("admin"), course_id, EnrollmentRequest(user_id=student.user_id))
    assert status == 201
    late = {"id": str(uuid.uuid4()), "kind": "cache.mark_not_enrolled", "attempt": 2, "reason": "ConnectionError",
            "payload": {"courseId": course_id, "userId": student.user_id}}

    assert await outbox.retry(ctx, late) == "done"

    assert await ctx.redis.get(keys.content_member(course_id, student.user_id)) == "1"
    await courses.get_lesson(ctx, student, lesson_id)


async def test_a_refunded_enrolment_leaves_the_dashboard_and_the_course_analytics(ctx):
    student, course_id, _ = await _enrolled(ctx)
    async with ctx.db.connection() as conn:
        assert course_id in [str(r["id"]) for r in await progress_sql.enrolled_courses(conn, student.user_id, 50)]
        assert await analytics_sql.enrolled_students(conn, course_id) == 1
    await _end(ctx, course_id, student.user_id)
    async with ctx.db.connection() as conn:
        assert course_id not in [str(r["id"]) for r in await progress_sql.enrolled_courses(conn, student.user_id, 50)]
        assert await analytics_sql.enrolled_students(conn, course_id) == 0
