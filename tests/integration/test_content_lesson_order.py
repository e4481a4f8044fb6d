"""Reordering and deleting lessons against the real PostgreSQL: positions stay dense and
unique at every step, so both hold where lessons carry a unique (course, position) index."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from shared_code.context import AppContext
from shared_code.models.content import CourseCreate, LessonCreate, LessonOrder
from shared_code.services.content import courses, lesson_edits
from tests.integration.conftest import person

pytestmark = pytest.mark.timeout(120)


async def _positions(ctx: AppContext, course_id: str) -> list[tuple[str, int]]:
    async with ctx.db.connection() as conn:
        cur = await conn.execute("SELECT id, position FROM lessons WHERE course_id = %s ORDER BY position", (course_id,))
        return [(str(r["id"]), int(r["position"])) for r in await cur.fetchall()]


async def test_reorder_and_delete_never_put_two_lessons_on_one_position(ctx, migrated):
    tutor = person("tutor")
    _, course = await courses.create_course(ctx, tutor, CourseCreate(title="Order", description="d"), idempotency_key=None)
    course_id = str(course["id"])
    ids = []
    for n in range(5):
        _, lesson = await courses.add_lesson(ctx, tutor, course_id, LessonCreate(title=f"L{n}", kind="document"),
                                             idempotency_key=None)
        ids.append(str(lesson["id"]))
    # A unique index on this course's positions only (the others are left as they are),
    # checked row by row as PostgreSQL checks every non-deferrable unique index.
    index = f"lessons_unique_position_{uuid.uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as conn:
        await conn.execute(f"CREATE UNIQUE INDEX {index} ON lessons (course_id, position) WHERE course_id = '{course_id}'")
    try:
        new = [ids[4], ids[0], ids[3], ids[1], ids[2]]
        detail = await lesson_edits.reorder_lessons(ctx, tutor, course_id, LessonOrder(lesson_ids=new))
        assert [str(lesson.id) for lesson in detail.lessons] == new
        assert await _positions(ctx, course_id) == [(i, n) for n, i in enumerate(new)]

        await lesson_edits.delete_lesson(ctx, tutor, ids[0])  # position 1 of 5
        left = [ids[4], ids[3], ids[1], ids[2]]
        assert await _positions(ctx, course_id) == [(i, n) for n, i in enumerate(left)]
        await lesson_edits.delete_lesson(ctx, tutor, ids[2])  # the last one
        assert await _positions(ctx, course_id) == [(i, n) for n, i in enumerate(left[:3])]
    finally:
        async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as conn:
            await conn.execute(f"DROP INDEX IF EXISTS {index}")
