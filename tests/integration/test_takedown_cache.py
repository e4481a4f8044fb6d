"""A takedown reaches every read path of the content cache: warm Redis entries, the cache
switched off, and Redis down (reads from PostgreSQL), in-process against the real stores."""

from __future__ import annotations

import pytest

from shared_code.context import AppContext
from shared_code.errors import NotFound
from shared_code.models.content import EnrollmentRequest
from shared_code.platform import access
from shared_code.services.admin import takedowns
from shared_code.services.content import courses, enrollments
from tests.integration.conftest import person
from tests.integration.test_content_cache import published_course_with_lesson

pytestmark = pytest.mark.timeout(120)


async def _enrolled(ctx: AppContext):
    tutor, student, admin = person("tutor"), person("student"), person("admin")
    course_id, lesson_id = await published_course_with_lesson(ctx, tutor, title="Down")
    await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())
    return tutor, student, admin, course_id, lesson_id


async def _hidden_from(ctx: AppContext, student, course_id: str, lesson_id: str) -> None:
    for read in (lambda: courses.get_lesson(ctx, student, lesson_id),
                 lambda: courses.get_course(ctx, student, course_id),
                 lambda: access.require_member(ctx, student, course_id)):
        with pytest.raises(NotFound):
            await read()


async def test_warm_cached_reads_stop_at_the_takedown_and_return_at_the_restore(ctx):
    _, student, admin, course_id, lesson_id = await _enrolled(ctx)
    assert (await courses.get_lesson(ctx, student, lesson_id)).title == "One"  # warm
    await courses.get_course(ctx, student, course_id)
    await takedowns.set_course(ctx, admin, course_id, "reason")
    await _hidden_from(ctx, student, course_id, lesson_id)
    await takedowns.set_course(ctx, admin, course_id, None)
    assert (await courses.get_lesson(ctx, student, lesson_id)).title == "One"
    assert (await access.require_member(ctx, student, course_id)).relation == "enrolled"


async def test_with_the_cache_switched_off_the_takedown_holds_too(ctx):
    _, student, admin, course_id, lesson_id = await _enrolled(ctx)
    off = AppContext(**{**ctx.__dict__, "settings": ctx.settings.model_copy(update={"cache_enabled": False})})
    await takedowns.set_course(off, admin, course_id, "reason")
    await _hidden_from(off, student, course_id, lesson_id)


async def test_with_redis_down_the_takedown_holds_and_its_invalidation_waits_in_the_outbox(ctx, redis_server):
    tutor, student, admin, course_id, lesson_id = await _enrolled(ctx)
    await courses.get_lesson(ctx, student, lesson_id)  # warm
    redis_server.kill()
    await takedowns.set_course(ctx, admin, course_id, "reason")
    await _hidden_from(ctx, student, course_id, lesson_id)
    owned = await access.course_access(ctx, tutor, course_id)
    assert owned.frozen
