"""The content metadata cache against real PostgreSQL and a real redis-server this test owns.

Each test starts its own `redis-server` on a free port (so killing it never disturbs the
shared Redis), builds an `AppContext` pointing at it, creates data through the service
layer, and counts database reads with a counting wrapper around the repository functions.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from shared_code.adapters.postgres import courses as courses_sql
from shared_code.adapters.postgres import enrollments as enrollments_sql
from shared_code.adapters.postgres import lessons as lessons_sql
from shared_code.adapters.postgres.rows import values as row_values
from shared_code.adapters.redis import cache as cache_redis
from shared_code.adapters.redis import keys
from shared_code.auth import Principal
from shared_code.concurrency import ReadBatcher
from shared_code.context import AppContext
from shared_code.domain import cache_entries
from shared_code.errors import Forbidden, NotFound
from shared_code.models.content import CourseCreate, CourseUpdate, EnrollmentRequest, LessonCreate, VideoCreate
from shared_code.platform import access
from shared_code.services.content import courses, enrollments, videos
from tests.integration.conftest import person

pytestmark = pytest.mark.timeout(120)

HERD = 500


@dataclass
class Counter:
    calls: int = 0


def counting(monkeypatch, module, name: str) -> Counter:
    counter = Counter()
    original: Callable = getattr(module, name)

    async def wrapper(*args, **kwargs):
        counter.calls += 1
        return await original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return counter


async def published_course_with_lesson(ctx: AppContext, tutor: Principal, *, title: str = "Herds") -> tuple[str, str]:
    _, course = await courses.create_course(ctx, tutor, CourseCreate(title=title, description="d"), idempotency_key=None)
    course_id = str(course["id"])
    video = await videos.register_video(ctx, tutor, VideoCreate(title="One"))
    _, lesson = await courses.add_lesson(
        ctx, tutor, course_id, LessonCreate(title="One", kind="video", video_asset_id=str(video.id), duration_seconds=60),
        idempotency_key=None,
    )
    await courses.update_course(ctx, tutor, course_id, CourseUpdate(published=True))
    return course_id, str(lesson["id"])


async def enrol_all(ctx: AppContext, course_id: str, students: list[Principal]) -> None:
    gate = asyncio.Semaphore(20)

    async def one(student: Principal) -> None:
        async with gate:
            await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())

    await asyncio.gather(*(one(s) for s in students))


async def make_cold(ctx: AppContext, course_id: str) -> None:
    """Retires every cached metadata entry of the course and this process's lesson mapping."""
    await cache_redis.bump_generation(ctx.redis, course_id)
    ctx.content_cache.lesson_course.clear()


async def test_500_concurrent_cold_reads_of_a_lesson_make_one_database_read(ctx, monkeypatch):
    tutor = person("tutor")
    course_id, lesson_id = await published_course_with_lesson(ctx, tutor)
    students = [person("student") for _ in range(HERD)]
    await enrol_all(ctx, course_id, students)
    await ctx.redis.delete(keys.content_lesson_course(lesson_id))
    await make_cold(ctx, course_id)

    lesson_reads = counting(monkeypatch, lessons_sql, "lesson_with_course")
    course_reads = counting(monkeypatch, courses_sql, "get_course")
    member_reads = counting(monkeypatch, enrollments_sql, "is_enrolled")

    # Entirely cold: nobody in this process or in Redis knows the lesson yet.
    results = await asyncio.gather(*(courses.get_lesson(ctx, s, lesson_id) for s in students))
    assert {str(r.id) for r in results} == {lesson_id}
    assert lesson_reads.calls == 1
    assert course_reads.calls == 0
    assert member_reads.calls == 0, "enrolment wrote membership through, so no student needs PostgreSQL"

    # The mapping is known now, the metadata entries are stale: one read again, and it fills them.
    await cache_redis.bump_generation(ctx.redis, course_id)
    await asyncio.gather(*(courses.get_lesson(ctx, s, lesson_id) for s in students))
    assert lesson_reads.calls == 2

    # Warm: no database at all.
    await asyncio.gather(*(courses.get_lesson(ctx, s, lesson_id) for s in students))
    assert (lesson_reads.calls, course_reads.calls, member_reads.calls) == (2, 0, 0)


async def test_a_herd_waits_for_the_fill_of_another_process_instead_of_reading_postgres(ctx, monkeypatch):
    tutor = person("tutor")
    course_id, lesson_id = await published_course_with_lesson(ctx, tutor)
    await courses.get_lesson(ctx, tutor, lesson_id)  # learns the lesson's course
    async with ctx.db.connection() as conn:
        found = await lessons_sql.lesson_with_course(conn, lesson_id)
    lesson_reads = counting(monkeypatch, lessons_sql, "lesson_with_course")
    await make_cold(ctx, course_id)
    ctx.content_cache.lesson_course[lesson_id] = course_id
    generation = await cache_redis.current_generation(ctx.redis, course_id)

    # Another process holds the fill lock and fills the entries a moment later.
    assert await cache_redis.try_lock(ctx.redis, f"lesson:{lesson_id}", 3000)

    async def other_process_fills() -> None:
        await asyncio.sleep(0.15)
        await cache_redis.store(
            ctx.redis,
            {
                keys.content_lesson(course_id, lesson_id): cache_entries.entry(generation, cache_entries.plain(found["lesson"])),
                keys.content_course(course_id): cache_entries.entry(generation, cache_entries.plain(found["course"])),
            },
            60,
        )

    filler = asyncio.create_task(other_process_fills())
    results = await asyncio.gather(*(courses.get_lesson(ctx, tutor, lesson_id) for _ in range(50)))
    await filler
    assert lesson_reads.calls == 0
    assert {r.title for r in results} == {"One"}


async def test_a_reader_sees_an_edit_as_soon_as_the_writer_has_answered(ctx):
    tutor = person("tutor")
    student = person("student")
    course_id, lesson_id = await published_course_with_lesson(ctx, tutor, title="Before")
    await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())
    assert (await courses.get_course(ctx, student, course_id)).title == "Before"  # warm
    await courses.update_course(ctx, tutor, course_id, CourseUpdate(title="After"))
    assert (await courses.get_course(ctx, student, course_id)).title == "After"
    await courses.add_lesson(ctx, tutor, course_id, LessonCreate(title="Zero", kind="document", position=0), idempotency_key=None)
    detail = await courses.get_course(ctx, student, course_id)
    assert [lesson.title for lesson in detail.lessons] == ["Zero", "One"]
    assert (await courses.get_lesson(ctx, student, lesson_id)).position == 1


async def test_a_late_fill_read_before_a_write_is_never_served(ctx):
    tutor = person("tutor")
    course_id, _ = await published_course_with_lesson(ctx, tutor, title="Old")
    old_generation = await cache_redis.current_generation(ctx.redis, course_id)
    async with ctx.db.connection() as conn:
        old_row = cache_entries.plain(row_values(await courses_sql.get_course(conn, course_id)))  # as the cache holds it
    await courses.update_course(ctx, tutor, course_id, CourseUpdate(title="New"))
    # A slow reader that read PostgreSQL before the write stores its row only now.
    await cache_redis.store(ctx.redis, {keys.content_course(course_id): cache_entries.entry(old_generation, old_row)}, 60)
    assert (await access.course_access(ctx, tutor, course_id)).title == "New"


async def test_enrolling_makes_lessons_readable_at_once_even_after_a_cached_refusal(ctx):
    tutor, student = person("tutor"), person("student")
    course_id, lesson_id = await published_course_with_lesson(ctx, tutor)
    with pytest.raises(Forbidden):
        await courses.get_lesson(ctx, student, lesson_id)  # caches "not enrolled"
    await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())
    assert str((await courses.get_lesson(ctx, student, lesson_id)).id) == lesson_id


async def test_reads_are_served_from_postgres_while_redis_is_down(ctx, redis_server, monkeypatch):
    tutor = person("tutor")
    course_id, lesson_id = await published_course_with_lesson(ctx, tutor, title="Outage")
    students = [person("student") for _ in range(HERD)]
    await enrol_all(ctx, course_id, students)
    outsider = person("student")
    for s in students[:3]:
        await courses.get_lesson(ctx, s, lesson_id)  # warm
    assert await ctx.redis.get(keys.content_course(course_id)) is not None

    redis_server.kill()

    started = time.monotonic()
    lesson = await courses.get_lesson(ctx, students[0], lesson_id)
    assert lesson.title == "One"
    detail = await courses.get_course(ctx, students[1], course_id)
    assert detail.title == "Outage" and len(detail.lessons) == 1
    assert (await access.require_member(ctx, students[2], course_id)).relation == "enrolled"
    with pytest.raises(Forbidden):
        await courses.get_lesson(ctx, outsider, lesson_id)
    with pytest.raises(NotFound):
        await courses.get_lesson(ctx, students[0], str(uuid.uuid4()))
    assert time.monotonic() - started < 5, "an outage must not make each read wait for Redis"

    # A write still succeeds; its invalidation is queued for when Redis returns.
    updated = await courses.update_course(ctx, tutor, course_id, CourseUpdate(description="edited during the outage"))
    assert updated.description == "edited during the outage"
    assert (await courses.get_course(ctx, students[3], course_id)).description == "edited during the outage"

    # The herd protection holds without Redis too: single flight in this process.
    lesson_reads = counting(monkeypatch, lessons_sql, "lesson_with_course")
    member_reads = counting(monkeypatch, enrollments_sql, "is_enrolled")
    ctx.content_cache.lesson_course.clear()
    results = await asyncio.gather(*(courses.get_lesson(ctx, students[0], lesson_id) for _ in range(HERD)))
    assert len(results) == HERD
    assert lesson_reads.calls == 1 and member_reads.calls == 1


async def test_with_the_cache_switched_off_reads_go_to_postgres_every_time(ctx, monkeypatch):
    tutor = person("tutor")
    course_id, lesson_id = await published_course_with_lesson(ctx, tutor)
    off = AppContext(**{**ctx.__dict__, "settings": ctx.settings.model_copy(update={"cache_enabled": False})})
    lesson_reads = counting(monkeypatch, lessons_sql, "lesson_with_course")
    for _ in range(3):
        await courses.get_lesson(off, tutor, lesson_id)
    assert lesson_reads.calls == 3


async def test_concurrent_reads_are_coalesced_yet_each_caller_gets_exactly_its_own_keys(ctx):
    courses_ids = [str(uuid.uuid4()) for _ in range(3)]
    users = [str(uuid.uuid4()) for _ in range(60)]
    entries = {keys.content_member(c, u): f"{c}/{u}" for c in courses_ids for u in users}
    await cache_redis.store(ctx.redis, entries, 60)
    await ctx.redis.config_resetstat()
    batcher = ReadBatcher(ctx.redis)
    asks = [[keys.content_generation(c), keys.content_member(c, u)] for c in courses_ids for u in users]
    answers = await asyncio.gather(*(batcher.read(names) for names in asks))
    for names, values in zip(asks, answers, strict=False):
        assert values == [None, entries[names[1]]]
    stats = await ctx.redis.info("commandstats")
    assert 1 <= stats["cmdstat_mget"]["calls"] <= 3 * 2, "one MGET per course per batch, not one per caller"


async def test_a_failed_batch_reaches_every_caller(ctx, redis_server):
    batcher = ReadBatcher(ctx.redis)
    redis_server.kill()
    outcomes = await asyncio.gather(*(batcher.read([keys.content_course(str(uuid.uuid4()))]) for _ in range(10)), return_exceptions=True)
    assert all(isinstance(o, RedisConnectionError) for o in outcomes), outcomes
