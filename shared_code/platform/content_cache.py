"""Cache-aside for course and lesson metadata and enrolment membership.

Why it is shaped this way:

- **Never stale after a write.** Every course has a generation token in Redis. A reader
  reads the token *before* it reads PostgreSQL and tags what it caches with that token;
  a writer replaces the token after its commit and before it answers. An entry whose
  tag is not the current token is ignored, so once the writer has answered, no reader can
  be served what was read before the commit (a slow reader that fills late only writes
  an entry nobody will accept).
- **One round trip when warm.** All keys of a course share a hash tag, so a lesson read
  fetches the generation, the course row, the lesson row and the caller's membership
  with one MGET. A lesson's course never changes, so that mapping is also kept in
  process memory.
- **No thundering herd.** Concurrent misses of the same entry in one process share one
  load (an asyncio task per key: single flight); across processes the loader takes a
  short Redis lock and the others poll the cache briefly before giving up and reading
  PostgreSQL themselves.
- **Redis is optional.** Any Redis error is caught here (and only here), trips a short
  breaker so later requests skip Redis instead of waiting on it, and the read is served
  from PostgreSQL. A write whose invalidation could not reach Redis queues it through the
  outbox, so it is applied when Redis returns. (While Redis is down, single flight keys
  carry no generation, so a read that joins a load started just before another
  process's write can get the pre-write row: a window as long as one PK lookup.)
- **Membership** (`is this user enrolled?`) is cached per (course, user): enrolling writes
  `1` through; readers fill only absent keys, so an old negative answer never overwrites
  an enrolment.

With `LECTERN_CACHE_ENABLED=false` every read goes straight to PostgreSQL (benchmarks
compare the two); writes still replace the generation so other processes stay correct.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import MaxConnectionsError, RedisError

from shared_code.adapters.postgres import access as access_sql
from shared_code.adapters.postgres import courses as courses_sql
from shared_code.adapters.postgres import enrollments as enrollments_sql
from shared_code.adapters.postgres import lessons as lessons_sql
from shared_code.adapters.postgres.rows import values
from shared_code.adapters.redis import cache as cache_redis
from shared_code.adapters.redis import enrollments as enrollment_redis
from shared_code.adapters.redis import keys
from shared_code.concurrency import quiet
from shared_code.context import AppContext
from shared_code.domain.cache_entries import entry, plain
from shared_code.platform import cache_fill as fill
from shared_code.platform import outbox

Row = dict[str, Any]

logger = logging.getLogger("lectern.content.cache")

LESSON_COURSE_TTL_SECONDS = 30 * 24 * 3600
_LESSON_COURSE_MEMORY = 100_000


# --- courses ---------------------------------------------------------------------------
async def _load_course(ctx: AppContext, course_id: str, seen_generation: str | None) -> Row | None:
    async def load() -> Row | None:
        generation = await fill.generation(ctx, course_id, seen_generation)

        async def from_db() -> Row | None:
            async with ctx.db.connection() as conn:
                row = await courses_sql.get_course(conn, course_id)
            course = plain(values(row)) if row else None  # cached as JSON: a dict
            if course is not None and generation is not None:
                await fill.store(ctx, {keys.content_course(course_id): entry(generation, course)})
            return course

        async def probe() -> Row | None:
            names = [keys.content_generation(course_id), keys.content_course(course_id)]
            current, raw = await fill.read(ctx, names)
            return fill.valid(ctx, raw, current)

        return await fill.locked_fill(ctx, f"course:{course_id}", probe, from_db)

    return await ctx.content_cache.flights.run(f"course:{course_id}:{seen_generation}", load)


async def _load_membership(ctx: AppContext, course_id: str, user_id: str) -> bool:
    async def load() -> bool:
        async with ctx.db.connection() as conn:
            enrolled = await enrollments_sql.is_enrolled(conn, course_id, user_id)
        ttl = ctx.settings.cache_ttl_seconds
        await fill.safely(
            ctx,
            "membership fill",
            lambda: enrollment_redis.remember(ctx.redis, course_id, user_id, enrolled, ttl),
            None,
        )
        return enrolled

    return await ctx.content_cache.flights.run(f"member:{course_id}:{user_id}", load)


@dataclass(frozen=True)
class CoursePrefetch:
    """A course view's cache read, sent before the caller was authorised (`prefetch_course`)."""

    course_id: str
    user_id: str
    pending: asyncio.Future[list[str | None]]


def _course_names(course_id: str, user_id: str) -> list[str]:
    return [keys.content_generation(course_id), keys.content_course(course_id), keys.content_member(course_id, user_id)]


def prefetch_course(ctx: AppContext, course_id: str, user_id: str) -> CoursePrefetch | None:
    """Sends `course_view`'s cache read now, as `prefetch_lesson` does a lesson's; None when
    the cache is off or its breaker open."""
    if not fill.cache_on(ctx) or not ctx.content_cache.breaker.closed:
        return None
    return CoursePrefetch(course_id, user_id, quiet(ctx.content_cache.reads.submit(_course_names(course_id, user_id))))


async def course_view(
    ctx: AppContext, course_id: str, user_id: str, needs_membership: Callable[[Row], bool], *,
    prefetched: CoursePrefetch | None = None,
) -> tuple[Row | None, bool]:
    """The course row and whether `user_id` is enrolled (looked up only when `needs_membership(course)`);
    no round trip of its own when `prefetched` holds the read."""
    if not fill.cache_on(ctx):
        async with ctx.db.connection() as conn:
            row = await access_sql.course_with_enrolment(conn, course_id, user_id)
        if row is None:
            return None, False
        enrolled = bool(row.pop("enrolled"))
        return plain(row), enrolled
    if prefetched is not None and (prefetched.course_id, prefetched.user_id) == (course_id, user_id):
        generation, course_raw, member_raw = await _prefetched(ctx, prefetched.pending, 3)
    else:
        generation, course_raw, member_raw = await fill.read(ctx, _course_names(course_id, user_id))
    course = fill.valid(ctx, course_raw, generation)
    if course is None:
        course = await _load_course(ctx, course_id, generation)
        if course is None:
            return None, False
    cached = enrollment_redis.decode(member_raw)
    if cached is not None:
        return course, cached
    return course, (await _load_membership(ctx, course_id, user_id) if needs_membership(course) else False)


async def course_detail(ctx: AppContext, course_id: str) -> tuple[Row | None, list[Row]]:
    """The course row and its lessons in position order."""
    if not fill.cache_on(ctx):
        async with ctx.db.connection() as conn:
            row = await courses_sql.get_course(conn, course_id)
            lesson_rows = await lessons_sql.list_lessons(conn, course_id) if row else []
        return (plain(values(row)) if row else None), [plain(values(r)) for r in lesson_rows]
    names = [keys.content_generation(course_id), keys.content_course(course_id), keys.content_lessons(course_id)]
    generation, course_raw, lessons_raw = await fill.read(ctx, names)
    course, lessons = fill.valid(ctx, course_raw, generation), fill.valid(ctx, lessons_raw, generation)
    if course is not None and lessons is not None:
        return course, lessons

    async def load() -> tuple[Row | None, list[Row]]:
        tag = await fill.generation(ctx, course_id, generation)

        async def from_db() -> tuple[Row | None, list[Row]]:
            async with ctx.db.connection() as conn:
                row = await courses_sql.get_course(conn, course_id)
                rows = await lessons_sql.list_lessons(conn, course_id) if row else []
            if row is None:
                return None, []
            fresh, fresh_lessons = plain(values(row)), [plain(values(r)) for r in rows]  # cached as JSON: dicts
            if tag is not None:
                await fill.store(
                    ctx,
                    {
                        keys.content_course(course_id): entry(tag, fresh),
                        keys.content_lessons(course_id): entry(tag, fresh_lessons),
                    },
                )
            return fresh, fresh_lessons

        async def probe() -> tuple[Row, list[Row]] | None:
            current, c_raw, l_raw = await fill.read(ctx, names)
            c, ls = fill.valid(ctx, c_raw, current), fill.valid(ctx, l_raw, current)
            return (c, ls) if c is not None and ls is not None else None

        return await fill.locked_fill(ctx, f"detail:{course_id}", probe, from_db)

    return await ctx.content_cache.flights.run(f"detail:{course_id}:{generation}", load)


# --- lessons ---------------------------------------------------------------------------
def _remember_lesson_course(ctx: AppContext, lesson_id: str, course_id: str) -> None:
    memory = ctx.content_cache.lesson_course
    if len(memory) >= _LESSON_COURSE_MEMORY:
        memory.clear()  # crude but bounded; the mapping is cheap to relearn
    memory[lesson_id] = course_id


async def _course_of_lesson(ctx: AppContext, lesson_id: str) -> str | None:
    course_id = ctx.content_cache.lesson_course.get(lesson_id)
    if course_id is None:
        course_id = await fill.safely(
            ctx, "lesson mapping", lambda: cache_redis.get(ctx.redis, keys.content_lesson_course(lesson_id)), None
        )
        if course_id is not None:
            _remember_lesson_course(ctx, lesson_id, course_id)
    return course_id


async def _load_lesson(
    ctx: AppContext, lesson_id: str, course_id: str | None, seen_generation: str | None
) -> tuple[Row, Row] | None:
    """The lesson and its course from one query, cached when the course was known beforehand.

    When the course is not known yet, its generation could only be read after the query,
    which would let a concurrent write slip between the two; then only the (immutable)
    lesson → course mapping is cached and the next read fills the rest.
    """

    async def load() -> tuple[Row, Row] | None:
        generation = await fill.generation(ctx, course_id, seen_generation) if course_id else None

        async def from_db() -> tuple[Row, Row] | None:
            async with ctx.db.connection() as conn:
                found = await lessons_sql.lesson_with_course(conn, lesson_id)
            if found is None:
                return None
            lesson, course = plain(found["lesson"]), plain(found["course"])
            owner_course = course["id"]
            _remember_lesson_course(ctx, lesson_id, owner_course)
            entries = {keys.content_lesson_course(lesson_id): owner_course}
            if generation is not None and owner_course == course_id:
                entries[keys.content_lesson(owner_course, lesson_id)] = entry(generation, lesson)
                entries[keys.content_course(owner_course)] = entry(generation, course)
            ttl = LESSON_COURSE_TTL_SECONDS
            await fill.safely(ctx, "cache fill", lambda: _store_mixed(ctx, entries, lesson_id, ttl), None)
            return lesson, course

        async def probe() -> tuple[Row, Row] | None:
            if course_id is None:
                return None
            names = [keys.content_generation(course_id), keys.content_course(course_id), keys.content_lesson(course_id, lesson_id)]
            current, c_raw, l_raw = await fill.read(ctx, names)
            c, ls = fill.valid(ctx, c_raw, current), fill.valid(ctx, l_raw, current)
            return (ls, c) if c is not None and ls is not None else None

        return await fill.locked_fill(ctx, f"lesson:{lesson_id}", probe, from_db)

    return await ctx.content_cache.flights.run(f"lesson:{lesson_id}:{seen_generation}", load)


async def _store_mixed(ctx: AppContext, entries: dict[str, str], lesson_id: str, mapping_ttl: int) -> None:
    """Metadata entries with the cache TTL; the lesson → course mapping with its own long one."""
    mapping_key = keys.content_lesson_course(lesson_id)
    metadata = {k: v for k, v in entries.items() if k != mapping_key}
    if metadata:
        await cache_redis.store(ctx.redis, metadata, ctx.settings.cache_ttl_seconds)
    await cache_redis.store(ctx.redis, {mapping_key: entries[mapping_key]}, mapping_ttl)


@dataclass(frozen=True)
class LessonPrefetch:
    """A lesson view's cache read, sent before the caller was authorised (`prefetch_lesson`)."""

    lesson_id: str
    course_id: str
    user_id: str
    pending: asyncio.Future[list[str | None]]


def _lesson_names(course_id: str, lesson_id: str, user_id: str) -> list[str]:
    return [
        keys.content_generation(course_id),
        keys.content_course(course_id),
        keys.content_lesson(course_id, lesson_id),
        keys.content_member(course_id, user_id),
    ]


def prefetch_lesson(ctx: AppContext, lesson_id: str, user_id: str) -> LessonPrefetch | None:
    """Sends `lesson_view`'s cache read now, so it shares the round trip of the request's
    rate limits and stored roles; None when it cannot be sent yet (cache off, Redis
    breaker open, or the lesson's course not known in this process).

    It is a read of Redis only: whatever it finds is judged by `lesson_view` after the
    caller was authorised, and only then may a miss go to PostgreSQL, so a caller who is
    refused (bad roles, past their rate) never makes the database work.
    """
    state = ctx.content_cache
    if not fill.cache_on(ctx) or not state.breaker.closed:
        return None
    course_id = state.lesson_course.get(lesson_id)
    if course_id is None:
        return None
    pending = quiet(state.reads.submit(_lesson_names(course_id, lesson_id, user_id)))
    return LessonPrefetch(lesson_id, course_id, user_id, pending)


async def _prefetched(ctx: AppContext, pending: asyncio.Future[list[str | None]], count: int) -> list[str | None]:
    """What a prefetch read; a failed read is a miss, and trips the breaker as `_read` does."""
    try:
        return await pending
    except MaxConnectionsError:
        pass
    except RedisError as exc:
        ctx.content_cache.breaker.trip("cache read", exc)
    return [None] * count


async def lesson_view(
    ctx: AppContext,
    lesson_id: str,
    user_id: str,
    needs_membership: Callable[[Row], bool],
    *,
    prefetched: LessonPrefetch | None = None,
) -> tuple[Row | None, Row | None, bool]:
    """The lesson, its course and whether `user_id` is enrolled; one Redis round trip when
    warm (none of its own when `prefetched` holds that read)."""
    if not fill.cache_on(ctx):
        async with ctx.db.connection() as conn:
            found = await lessons_sql.lesson_with_course(conn, lesson_id, viewer_id=user_id)
        if found is None:
            return None, None, False
        return plain(found["lesson"]), plain(found["course"]), bool(found["enrolled"])
    generation = lesson = course = member_raw = None
    if prefetched is not None and prefetched.lesson_id == lesson_id and prefetched.user_id == user_id:
        course_id: str | None = prefetched.course_id
        generation, course_raw, lesson_raw, member_raw = await _prefetched(ctx, prefetched.pending, 4)
        course, lesson = fill.valid(ctx, course_raw, generation), fill.valid(ctx, lesson_raw, generation)
    else:
        course_id = await _course_of_lesson(ctx, lesson_id)
        if course_id is not None:
            generation, course_raw, lesson_raw, member_raw = await fill.read(ctx, _lesson_names(course_id, lesson_id, user_id))
            course, lesson = fill.valid(ctx, course_raw, generation), fill.valid(ctx, lesson_raw, generation)
    if lesson is None or course is None:
        loaded = await _load_lesson(ctx, lesson_id, course_id, generation)
        if loaded is None:
            return None, None, False
        lesson, course = loaded
        if course_id is None and needs_membership(course):
            member_key = keys.content_member(course["id"], user_id)
            member_raw = await fill.safely(ctx, "membership read", lambda: cache_redis.get(ctx.redis, member_key), None)
    enrolled = enrollment_redis.decode(member_raw)
    if enrolled is None:
        enrolled = await _load_membership(ctx, course["id"], user_id) if needs_membership(course) else False
    return lesson, course, enrolled


# --- writes ----------------------------------------------------------------------------
async def course_changed(ctx: AppContext, course_id: str) -> None:
    """Call after committing any change to a course, its lessons or its materials, before answering."""
    ctx.content_cache.flights.forget(f"course:{course_id}:", f"detail:{course_id}:", "lesson:")
    breaker = ctx.content_cache.breaker
    if breaker.closed:
        try:
            await cache_redis.bump_generation(ctx.redis, course_id)
            return
        except RedisError as exc:
            breaker.trip("invalidation", exc)
    # Until the retry lands, entries read before this write could be served again once
    # Redis is back; the outbox replaces the generation as soon as it can.
    await outbox.perform(ctx, "cache.bump_course", {"courseId": course_id})


async def enrolled(ctx: AppContext, course_id: str, user_id: str) -> None:
    """Call after committing an enrolment: writes the membership through to Redis."""
    await _write_membership(ctx, course_id, user_id, member=True)


async def unenrolled(ctx: AppContext, course_id: str, user_id: str) -> None:
    """Call after committing the end of an enrolment (a refund): the membership stops counting at once."""
    await _write_membership(ctx, course_id, user_id, member=False)


async def _write_membership(ctx: AppContext, course_id: str, user_id: str, *, member: bool) -> None:
    """Writes the cached membership now, or queues the write when Redis cannot take it."""
    ctx.content_cache.flights.forget(f"member:{course_id}:{user_id}")
    breaker = ctx.content_cache.breaker
    if breaker.closed:
        try:
            if member:
                await enrollment_redis.mark_enrolled(ctx.redis, course_id, user_id)
            else:
                await enrollment_redis.mark_not_enrolled(ctx.redis, course_id, user_id)
            return
        except RedisError as exc:
            breaker.trip("membership write", exc)
    kind = "cache.mark_enrolled" if member else "cache.mark_not_enrolled"
    await outbox.perform(ctx, kind, {"courseId": course_id, "userId": user_id})


def lesson_added(ctx: AppContext, lesson_id: str, course_id: str) -> None:
    _remember_lesson_course(ctx, lesson_id, course_id)
