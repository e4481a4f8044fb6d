"""SQL for `lessons`: ordered per course by a dense, zero-based `position`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import class_row

from shared_code.adapters.postgres.courses import COLUMNS as COURSE_COLUMNS
from shared_code.adapters.postgres.pool import Conn, Row
from shared_code.adapters.postgres.rows import columns, fetch_all, fetch_one


@dataclass(frozen=True)
class LessonRow:
    """A `lessons` row; its fields are the columns every query here selects."""

    id: uuid.UUID
    course_id: uuid.UUID
    title: str
    kind: str  # video, document, quiz, live
    video_asset_id: str | None
    duration_seconds: int | None
    material_id: uuid.UUID | None
    position: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Dependents:
    """What a delete of a lesson takes with it (counts, not a table row)."""

    progress_rows: int
    completions: int
    quizzes: int
    quiz_attempts: int


COLUMNS = columns(LessonRow)

# Columns an edit may change; anything else is never interpolated into SQL.
EDITABLE = ("title", "video_asset_id", "duration_seconds", "material_id")


async def count_lessons(conn: Conn, course_id: str) -> int:
    cur = await conn.execute("SELECT count(*) AS n FROM lessons WHERE course_id = %s", (course_id,))
    row = await cur.fetchone()
    return int(row["n"]) if row else 0


async def make_room(conn: Conn, course_id: str, position: int) -> None:
    """Moves every lesson at or after `position` one place down."""
    await conn.execute(
        "UPDATE lessons SET position = position + 1, updated_at = now() WHERE course_id = %s AND position >= %s",
        (course_id, position),
    )


async def insert_lesson(
    conn: Conn,
    *,
    lesson_id: str,
    course_id: str,
    title: str,
    kind: str,
    video_asset_id: str | None,
    duration_seconds: int | None,
    position: int,
    material_id: str | None = None,
) -> LessonRow:
    row = await fetch_one(
        conn, LessonRow,
        f"""INSERT INTO lessons (id, course_id, title, kind, video_asset_id, duration_seconds, material_id, position)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}""",
        (lesson_id, course_id, title, kind, video_asset_id, duration_seconds, material_id, position),
    )
    assert row is not None
    return row


async def lock_lesson(conn: Conn, lesson_id: str) -> LessonRow | None:
    """The lesson row, locked until the transaction ends."""
    return await fetch_one(conn, LessonRow, f"SELECT {COLUMNS} FROM lessons WHERE id = %s FOR UPDATE", (lesson_id,))


async def update_lesson(conn: Conn, lesson_id: str, changes: dict[str, Any]) -> LessonRow | None:
    """Applies `changes` (keys from EDITABLE) and stamps updated_at."""
    names = [name for name in changes if name in EDITABLE]
    assignments: list[sql.Composable] = [sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(name)) for name in names]
    assignments.append(sql.SQL("updated_at = now()"))
    query = sql.SQL("UPDATE lessons SET {} WHERE id = {} RETURNING " + COLUMNS).format(
        sql.SQL(", ").join(assignments), sql.Placeholder("lesson_id")
    )
    async with conn.cursor(row_factory=class_row(LessonRow)) as cur:
        await cur.execute(query, {**{k: changes[k] for k in names}, "lesson_id": lesson_id})
        return await cur.fetchone()


async def document_lessons_of(conn: Conn, material_id: str, course_id: str) -> list[str]:
    """The ids of the course's document lessons that name this material."""
    cur = await conn.execute(
        "SELECT id FROM lessons WHERE material_id = %s AND course_id = %s AND kind = 'document' ORDER BY id",
        (material_id, course_id),
    )
    return [str(row["id"]) for row in await cur.fetchall()]


async def list_lessons(conn: Conn, course_id: str) -> list[LessonRow]:
    return await fetch_all(
        conn, LessonRow, f"SELECT {COLUMNS} FROM lessons WHERE course_id = %s ORDER BY position, id", (course_id,)
    )


async def lesson_with_course(conn: Conn, lesson_id: str, *, viewer_id: str | None = None) -> Row | None:
    """The lesson and its course in one round trip: `{"lesson": {...}, "course": {...}}` or None.

    With `viewer_id`, also `"enrolled"`: whether that user is enrolled in the course. Dicts,
    not a `LessonRow`: the content cache stores exactly these (as JSON) and every reader of a
    lesson reads them from there (`platform/content_cache.py`).
    """
    lesson_cols = ", ".join(f"l.{c.strip()} AS l_{c.strip()}" for c in COLUMNS.split(","))
    course_cols = ", ".join(f"c.{c.strip()} AS c_{c.strip()}" for c in COURSE_COLUMNS.split(","))
    enrolled = (
        "EXISTS (SELECT 1 FROM enrollments e WHERE e.course_id = c.id AND e.user_id = %(viewer)s"
        " AND e.status = 'active')"
        if viewer_id is not None
        else "NULL"
    )
    cur = await conn.execute(
        f"""SELECT {lesson_cols}, {course_cols}, {enrolled} AS enrolled
              FROM lessons l JOIN courses c ON c.id = l.course_id WHERE l.id = %(lesson)s""",
        {"lesson": lesson_id, "viewer": viewer_id},
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return {
        "lesson": {k[2:]: v for k, v in row.items() if k.startswith("l_")},
        "course": {k[2:]: v for k, v in row.items() if k.startswith("c_")},
        "enrolled": row["enrolled"],
    }


async def lesson_ids(conn: Conn, course_id: str) -> list[str]:
    """The course's lesson ids in their current order."""
    cur = await conn.execute("SELECT id FROM lessons WHERE course_id = %s ORDER BY position, id", (course_id,))
    return [str(r["id"]) for r in await cur.fetchall()]


async def set_order(conn: Conn, course_id: str, ordered_ids: list[str]) -> None:
    """Gives each lesson its index in `ordered_ids` as its position (all of the course's lessons).

    Two statements: first every lesson moves past the highest position in use, then to its
    place. No step puts two lessons of a course on one position, so it holds under a unique
    (course_id, position) index too, which checks each row as it is written.
    """
    await conn.execute(
        """UPDATE lessons SET position = position + (SELECT max(position) + 1 FROM lessons WHERE course_id = %(course)s)
            WHERE course_id = %(course)s""",
        {"course": course_id},
    )
    await conn.execute(
        """UPDATE lessons l SET position = o.ord - 1, updated_at = now()
             FROM unnest(%(ids)s::uuid[]) WITH ORDINALITY AS o(id, ord)
            WHERE l.id = o.id AND l.course_id = %(course)s""",
        {"course": course_id, "ids": ordered_ids},
    )


async def delete_lesson(conn: Conn, lesson_id: str) -> LessonRow | None:
    """Deletes the lesson (its progress rows, counters, quizzes and attempts go with it by
    their foreign keys) and returns it as it was."""
    return await fetch_one(conn, LessonRow, f"DELETE FROM lessons WHERE id = %s RETURNING {COLUMNS}", (lesson_id,))


async def close_gap(conn: Conn, course_id: str, position: int, span: int) -> None:
    """Moves every lesson after `position` one place up, in two steps for the same reason as
    `set_order`; `span` is more than any position in use (the lesson count before the delete)."""
    params = {"course": course_id, "position": position, "span": span}
    await conn.execute(
        "UPDATE lessons SET position = position + %(span)s WHERE course_id = %(course)s AND position > %(position)s",
        params,
    )
    await conn.execute(
        """UPDATE lessons SET position = position - %(span)s - 1, updated_at = now()
            WHERE course_id = %(course)s AND position > %(position)s + %(span)s""",
        params,
    )


async def dependents(conn: Conn, lesson_id: str) -> Dependents:
    """What a delete of the lesson takes with it: students with progress, completions,
    quizzes and quiz attempts."""
    row = await fetch_one(
        conn, Dependents,
        """SELECT (SELECT count(*) FROM video_progress WHERE lesson_id = %(l)s) AS progress_rows,
                  (SELECT count(*) FROM video_progress WHERE lesson_id = %(l)s AND completed) AS completions,
                  (SELECT count(*) FROM quizzes WHERE lesson_id = %(l)s) AS quizzes,
                  (SELECT count(*) FROM quiz_attempts a JOIN quizzes q ON q.id = a.quiz_id WHERE q.lesson_id = %(l)s)
                      AS quiz_attempts""",
        {"l": lesson_id},
    )
    assert row is not None
    return row
