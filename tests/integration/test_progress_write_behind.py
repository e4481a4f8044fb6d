"""Heartbeats, the flush and completion against real PostgreSQL, Azurite, Web PubSub and a
redis-server this module owns (so killing it never disturbs the shared Redis, and no other
flusher drains its dirty sets).

Data is made through the content service layer; database use is observed by counting
connection checkouts and repository calls.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from shared_code.adapters.postgres import analytics as analytics_sql
from shared_code.adapters.postgres import progress as progress_sql
from shared_code.adapters.redis import keys
from shared_code.adapters.redis import progress as progress_redis
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.models.content import CourseCreate, CourseUpdate, EnrollmentRequest, LessonCreate, VideoCreate
from shared_code.models.progress import Heartbeat, SyncBatch
from shared_code.services.content import courses, enrollments, videos
from shared_code.services.progress import changelog, completion
from shared_code.services.progress import watch as progress
from tests.integration.conftest import person

pytestmark = pytest.mark.timeout(120)


async def course_with_lessons(ctx: AppContext, durations: list[int]) -> tuple[Principal, str, list[str]]:
    tutor = person("tutor")
    _, course = await courses.create_course(ctx, tutor, CourseCreate(title="Progress", description="d"), idempotency_key=None)
    course_id = str(course["id"])
    lesson_ids = []
    for i, duration in enumerate(durations):
        video = await videos.register_video(ctx, tutor, VideoCreate(title=f"L{i}"))
        _, lesson = await courses.add_lesson(
            ctx, tutor, course_id,
            LessonCreate(title=f"L{i}", kind="video", video_asset_id=str(video.id), duration_seconds=duration),
            idempotency_key=None,
        )
        lesson_ids.append(str(lesson["id"]))
    await courses.update_course(ctx, tutor, course_id, CourseUpdate(published=True))
    return tutor, course_id, lesson_ids


async def enrolled_student(ctx: AppContext, course_id: str) -> Principal:
    student = person("student")
    await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())
    return student


async def enrolled_earlier(ctx: AppContext, student: Principal, course_id: str, by: timedelta) -> None:
    """Moves an enrolment back in time: the only way to have been enrolled for a while."""
    async with ctx.db.transaction() as conn:
        await conn.execute(
            "UPDATE enrollments SET created_at = created_at - %s WHERE user_id = %s AND course_id = %s",
            (by, student.user_id, course_id),
        )


def beat(watched: float, duration: float = 600, position: float | None = None) -> Heartbeat:
    return Heartbeat(position_seconds=watched if position is None else position, watched_seconds=watched, duration_seconds=duration)


async def db_row(ctx: AppContext, user_id: str, lesson_id: str) -> dict | None:
    async with ctx.db.connection() as conn:
        return await progress_sql.get_progress(conn, user_id, lesson_id)


class Checkouts:
    """Counts every connection the code under test takes from the pool."""

    def __init__(self, ctx: AppContext, monkeypatch) -> None:
        self.count = 0
        for name in ("connection", "transaction"):
            original: Callable = getattr(ctx.db, name)

            def counted(*args, _original=original, **kwargs):
                self.count += 1
                return _original(*args, **kwargs)

            monkeypatch.setattr(ctx.db, name, counted)


async def test_a_warm_heartbeat_answers_without_touching_postgres(ctx, monkeypatch):
    _, course_id, (lesson_id,) = await course_with_lessons(ctx, [600])
    student = await enrolled_student(ctx, course_id)
    status, first = await progress.record_heartbeat(ctx, student, lesson_id, beat(3))
    assert status == 202 and first.watched_seconds == 3

    checkouts = Checkouts(ctx, monkeypatch)
    for watched in (3.5, 4, 4.5):  # within the session's allowance: no waiting needed
        status, result = await progress.record_heartbeat(ctx, student, lesson_id, beat(watched))
        assert status == 202
        assert result.watched_seconds == watched and not result.completed
    assert checkouts.count == 0
    assert await db_row(ctx, student.user_id, lesson_id) is None, "nothing is written before the flush"


async def test_heartbeats_carry_on_when_redis_forgets_its_scripts(ctx):
    _, course_id, (lesson_id,) = await course_with_lessons(ctx, [600])
    student = await enrolled_student(ctx, course_id)
    await progress.record_heartbeat(ctx, student, lesson_id, beat(3))
    await ctx.redis.script_flush()  # as after a restart or a failover
    results = await asyncio.gather(*(progress.record_heartbeat(ctx, student, lesson_id, beat(4)) for _ in range(5)))
    assert {(status, r.watched_seconds) for status, r in results} == {(202, 4.0)}


async def test_the_flush_lands_snapshots_in_postgres_and_never_moves_progress_backwards(ctx):
    _, course_id, lesson_ids = await course_with_lessons(ctx, [600, 600])
    students = [await enrolled_student(ctx, course_id) for _ in range(3)]
    for s in students:
        for lesson_id in lesson_ids:
            await progress.record_heartbeat(ctx, s, lesson_id, beat(4, position=4))
    assert await progress.dirty_snapshots(ctx) == 6

    report = await progress.flush_dirty(ctx)
    assert (report.snapshots, report.completions) == (6, 0)
    assert await progress.dirty_snapshots(ctx) == 0
    row = await db_row(ctx, students[0].user_id, lesson_ids[0])
    assert row is not None and row["watched_seconds"] == 4 and str(row["course_id"]) == course_id

    # A stale write (an older snapshot flushed late, a retried batch) cannot lower it.
    async with ctx.db.transaction() as conn:
        await progress_sql.upsert_many(
            conn,
            [progress_sql.ProgressWrite(
                user_id=students[0].user_id, lesson_id=lesson_ids[0], position_seconds=1, watched_seconds=1,
                duration_seconds=600, completed=False, heard_at_ms=0, client_ms=None,
            )],
        )
    row = await db_row(ctx, students[0].user_id, lesson_ids[0])
    assert (row["watched_seconds"], row["position_seconds"]) == (4, 4)


async def test_a_failed_flush_puts_its_batch_back_and_the_next_one_writes_it(ctx, monkeypatch):
    _, course_id, (lesson_id,) = await course_with_lessons(ctx, [600])
    students = [await enrolled_student(ctx, course_id) for _ in range(5)]
    for s in students:
        await progress.record_heartbeat(ctx, s, lesson_id, beat(4))

    original = progress_sql.upsert_columns

    async def database_down(*args, **kwargs):
        raise psycopg.OperationalError("connection refused (simulated)")

    monkeypatch.setattr(progress_sql, "upsert_columns", database_down)
    with pytest.raises(psycopg.OperationalError):
        await progress.flush_dirty(ctx)
    assert await progress.dirty_snapshots(ctx) == 5
    assert await db_row(ctx, students[0].user_id, lesson_id) is None

    monkeypatch.setattr(progress_sql, "upsert_columns", original)
    assert (await progress.flush_dirty(ctx)).snapshots == 5
    assert all([await db_row(ctx, s.user_id, lesson_id) for s in students])


async def test_a_flush_that_died_half_way_is_picked_up_by_the_next(ctx):
    _, course_id, (lesson_id,) = await course_with_lessons(ctx, [600])
    student = await enrolled_student(ctx, course_id)
    await progress.record_heartbeat(ctx, student, lesson_id, beat(4))
    store = ctx.progress_store
    shard = keys.progress_shard(student.user_id)
    taken = await store.take(shard, 100)  # a flusher took the batch, then its process died
    assert taken == [progress_redis.member(student.user_id, lesson_id)]
    assert await progress.dirty_snapshots(ctx) == 0

    assert (await progress.flush_dirty(ctx)).snapshots == 1
    assert (await db_row(ctx, student.user_id, lesson_id))["watched_seconds"] == 4


async def test_flush_batches_are_one_statement_each(ctx, monkeypatch):
    _, course_id, lesson_ids = await course_with_lessons(ctx, [600] * 10)
    student = await enrolled_student(ctx, course_id)
    for lesson_id in lesson_ids:
        await progress.record_heartbeat(ctx, student, lesson_id, beat(2))
    calls: list[int] = []
    original = progress_sql.upsert_columns

    async def counting(conn, columns, **kwargs):
        calls.append(len(columns))
        return await original(conn, columns, **kwargs)

    monkeypatch.setattr(progress_sql, "upsert_columns", counting)
    report = await progress.flush_dirty(ctx, batch_size=4)
    assert report.snapshots == 10
    # one student: one shard, so batches of 4, 4 and 2
    assert calls == [4, 4, 2]


async def test_completion_is_in_postgres_before_the_answer_and_survives_redis_dying(ctx, redis_server):
    _, course_id, (short, long) = await course_with_lessons(ctx, [10, 600])
    student = await enrolled_student(ctx, course_id)
    await progress.record_heartbeat(ctx, student, long, beat(5))
    status, _ = await progress.record_heartbeat(ctx, student, short, beat(5, duration=10))
    assert status == 202
    await asyncio.sleep(3.0)  # the player plays on: 3 s × 1.5 pays for the remaining 4.5 s
    status, done = await progress.record_heartbeat(ctx, student, short, beat(9.5, duration=10))
    assert status == 200 and done.completed and done.course_progress == 0.5
    row = await db_row(ctx, student.user_id, short)
    assert row["completed"] and row["completed_at"] is not None

    redis_server.kill()  # before any flush: the unflushed heartbeat on `long` is lost, the completion is not
    assert await db_row(ctx, student.user_id, long) is None
    assert (await db_row(ctx, student.user_id, short))["completed"]

    # Redis comes back empty; the next heartbeat starts from what PostgreSQL holds.
    redis_server.start()
    ctx.progress_breaker.reset()
    ctx.content_cache.breaker.reset()
    status, again = await progress.record_heartbeat(ctx, student, short, beat(9.8, duration=10))
    assert status == 202 and again.completed and again.watched_seconds >= 9.5


async def test_heartbeats_write_through_to_postgres_while_redis_is_down(ctx, redis_server):
    _, course_id, (lesson_id,) = await course_with_lessons(ctx, [20])
    student = await enrolled_student(ctx, course_id)
    redis_server.kill()

    status, first = await progress.record_heartbeat(ctx, student, lesson_id, beat(4, duration=20))
    assert status == 200 and first.watched_seconds == 4
    assert (await db_row(ctx, student.user_id, lesson_id))["watched_seconds"] == 4

    # Skipping ahead is capped the same way, against the row's last heartbeat time.
    status, skipped = await progress.record_heartbeat(ctx, student, lesson_id, beat(19, duration=20))
    assert status == 200 and skipped.watched_seconds < 10 and not skipped.completed

    async def played_for(seconds: int) -> None:  # pretend the student kept watching for a while
        async with ctx.db.transaction() as conn:
            await conn.execute(
                "UPDATE video_progress SET updated_at = updated_at - make_interval(secs => %s)"
                " WHERE user_id = %s AND lesson_id = %s",
                (seconds, student.user_id, lesson_id),
            )

    # The allowance is spent: further time is paid by the clock between heartbeats.
    status, early = await progress.record_heartbeat(ctx, student, lesson_id, beat(12, duration=20))
    assert early.watched_seconds < 6
    await played_for(5)
    status, done = await progress.record_heartbeat(ctx, student, lesson_id, beat(12, duration=20))
    assert done.watched_seconds == 12 and not done.completed
    async with ctx.db.transaction() as conn:  # pretend the student kept watching for a while
        await conn.execute(
            "UPDATE video_progress SET updated_at = updated_at - interval '10 seconds' WHERE user_id = %s AND lesson_id = %s",
            (student.user_id, lesson_id),
        )
    status, done = await progress.record_heartbeat(ctx, student, lesson_id, beat(19, duration=20))
    assert status == 200 and done.completed and done.course_progress == 1.0
    assert (await db_row(ctx, student.user_id, lesson_id))["completed"]


async def test_concurrent_heartbeats_crossing_the_threshold_complete_the_lesson_once(ctx, monkeypatch):
    _, course_id, (lesson_id,) = await course_with_lessons(ctx, [10])
    student = await enrolled_student(ctx, course_id)
    await progress.record_heartbeat(ctx, student, lesson_id, beat(5, duration=10))
    await asyncio.sleep(3.0)  # 3 s × 1.5 pays for the remaining 4.5 s
    completions: list[str] = []
    original = completion.after_completion

    async def counting(ctx_, row, value):
        completions.append(str(row["lesson_id"]))
        await original(ctx_, row, value)

    monkeypatch.setattr(completion, "after_completion", counting)
    results = await asyncio.gather(
        *(progress.record_heartbeat(ctx, student, lesson_id, beat(9.5, duration=10)) for _ in range(20))
    )
    assert all(r.completed for _, r in results)
    assert [s for s, _ in results].count(200) == 1
    assert completions == [lesson_id]


async def test_the_funnel_counters_match_the_progress_rows_whatever_path_wrote_them(ctx):
    _, course_id, lessons = await course_with_lessons(ctx, [10, 10, 600])
    students = [await enrolled_student(ctx, course_id) for _ in range(6)]
    for s in students:  # buffered heartbeats on every lesson, flushed concurrently with completions
        for lesson_id in lessons:
            await progress.record_heartbeat(ctx, s, lesson_id, beat(5, duration=10 if lesson_id != lessons[2] else 600))
    await asyncio.sleep(3.0)  # 3 s × 1.5 pays for the remaining 4.5 s
    flush = asyncio.create_task(progress.flush_dirty(ctx))
    await asyncio.gather(*(progress.record_heartbeat(ctx, s, lessons[0], beat(9.5, duration=10)) for s in students[:4]))
    await flush
    await progress.flush_dirty(ctx)  # a second write of the same rows counts nothing twice
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    offline = SyncBatch(events=[
        {"lessonId": lessons[1], "positionSeconds": w, "watchedSeconds": w, "durationSeconds": 10,
         "clientTime": (t0 + timedelta(seconds=w)).isoformat()}
        for w in (0, 5, 10)
    ])
    for s in students[3:]:
        await enrolled_earlier(ctx, s, course_id, timedelta(minutes=10))  # offline viewing needs an enrolment before it
        await progress.sync_events(ctx, s, offline)
        await progress.sync_events(ctx, s, offline)  # replayed

    async with ctx.db.connection() as conn:
        kept = await analytics_sql.lesson_funnel(conn, course_id)
        counted = await analytics_sql.lesson_funnel_counted(conn, course_id)
    assert [(r["started"], r["completed"]) for r in kept] == [(r["started"], r["completed"]) for r in counted]
    assert [(r["started"], r["completed"]) for r in kept] == [(6, 4), (6, 3), (6, 0)]


async def test_the_redis_script_and_the_python_rule_cap_alike(ctx):
    """The heartbeat script and `earn` (used when Redis is down and for offline sync) must
    agree step for step, credit included, or a student's progress would depend on which
    path served them."""
    rng = random.Random(20260101)
    store = ctx.progress_store
    for trial in range(40):
        user_id, lesson_id = str(uuid.uuid4()), str(uuid.uuid4())
        duration = rng.choice([30.0, 600.0, 3600.0])
        now_ms = 1_700_000_000_000
        stored = rng.choice([
            progress.NEVER,
            progress.Watch(rng.uniform(0, 20), now_ms - rng.choice([1_000, 60_000, 400_000]), rng.uniform(0, 5)),
        ])
        expected = stored
        first = True
        for _ in range(12):
            elapsed = rng.choice([0.0, 0.001, 0.5, 5.0, 20.0, 400.0, -3.0])
            claimed = max(0.0, expected.watched + rng.uniform(-10, 60))
            now_ms += int(elapsed * 1000)
            recorded = await store.record(
                user_id=user_id, lesson_id=lesson_id, course_id="c", now_ms=now_ms, position=0, watched=claimed,
                duration=duration, client_ms=None, rate=progress.RATE, allowance=progress.ALLOWANCE_SECONDS,
                gap_limit=progress.GAP_LIMIT_SECONDS, threshold=0.9,
                baseline=progress_redis.Baseline(
                    stored.watched, stored.heard_ms or 0, False, stored.credit
                ) if first else None,
            )
            expected = progress.earn(expected, now_ms, claimed, duration)
            first = False
            assert recorded is not None
            assert recorded.watched_seconds == pytest.approx(expected.watched, abs=1e-9), f"trial {trial}"
            credit = await ctx.redis.hget(keys.progress_snapshot(user_id, lesson_id), "cr")
            assert float(credit) == pytest.approx(expected.credit, abs=1e-9), f"trial {trial}"


async def test_a_video_without_a_stored_duration_records_time_but_does_not_complete(ctx, redis_server):
    tutor, course_id, _ = await course_with_lessons(ctx, [])
    video = await videos.register_video(ctx, tutor, VideoCreate(title="No length yet"))
    _, lesson = await courses.add_lesson(
        ctx, tutor, course_id, LessonCreate(title="No length yet", kind="video", video_asset_id=str(video.id)),
        idempotency_key=None,
    )
    lesson_id = str(lesson["id"])
    student = await enrolled_student(ctx, course_id)
    status, result = await progress.record_heartbeat(ctx, student, lesson_id, beat(1, duration=1))
    assert status == 202 and result.watched_seconds == 1 and result.completed is False

    # The same on the write-through path (Redis down).
    other = await enrolled_student(ctx, course_id)
    redis_server.kill()
    status, result = await progress.record_heartbeat(ctx, other, lesson_id, beat(1, duration=1))
    assert status == 200 and result.completed is False
    row = await db_row(ctx, other.user_id, lesson_id)
    assert row is not None and row["watched_seconds"] == 1 and row["completed"] is False


async def test_write_through_heartbeats_spend_the_credit_the_flush_carried(ctx, redis_server):
    """Redis down after a session began: the write-through path goes on from the flushed
    credit instead of granting the allowance again."""
    _, course_id, (lesson_id,) = await course_with_lessons(ctx, [600])
    student = await enrolled_student(ctx, course_id)
    await progress.record_heartbeat(ctx, student, lesson_id, beat(5))  # the allowance is spent
    await progress.flush_dirty(ctx)
    row = await db_row(ctx, student.user_id, lesson_id)
    assert row["watched_seconds"] == 5 and row["watch_credit_seconds"] == 0

    redis_server.kill()
    results = [await progress.record_heartbeat(ctx, student, lesson_id, beat(600)) for _ in range(20)]
    assert all(status == 200 for status, _ in results)
    row = await db_row(ctx, student.user_id, lesson_id)
    elapsed = (datetime.now(UTC) - row["updated_at"]).total_seconds() + 5
    assert row["watched_seconds"] <= 5 + elapsed * progress.RATE and row["completed"] is False


async def test_the_change_log_is_read_back_by_time_range(ctx):
    user_id = str(uuid.uuid4())
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    for minutes, kind in ((0, "progress.completed"), (1, "quiz.attempted"), (2, "leaderboard.changed"), (3, "quiz.attempted")):
        await changelog.record(
            ctx, user_id, kind, at=t0 + timedelta(minutes=minutes), course_id=str(uuid.uuid4()),
            subject_id=f"s{minutes}", details={"n": minutes},
        )
    # a retried write of the same event lands on the same row
    await changelog.record(ctx, user_id, "quiz.attempted", at=t0 + timedelta(minutes=1), course_id=None, subject_id="s1", details={"n": 1})

    everything, cursor = await changelog.read_changes(ctx, user_id)
    assert [c.kind for c in everything] == ["progress.completed", "quiz.attempted", "leaderboard.changed", "quiz.attempted"]
    assert cursor is None

    middle, _ = await changelog.read_changes(ctx, user_id, since=t0 + timedelta(minutes=1), until=t0 + timedelta(minutes=2))
    assert [c.details["n"] for c in middle] == [1, 2]

    page, cursor = await changelog.read_changes(ctx, user_id, limit=3)
    rest, end = await changelog.read_changes(ctx, user_id, limit=3, cursor=cursor)
    assert [c.details["n"] for c in page + rest] == [0, 1, 2, 3] and end is None

    other, _ = await changelog.read_changes(ctx, str(uuid.uuid4()))
    assert other == []
