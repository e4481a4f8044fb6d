"""SQL of the privacy sections (`services/privacy`): what each table holds about one user,
read for an export, and the statements an erasure runs.

Each read streams its rows newest first, `LIMIT`ed by the caller: the bounded export asks
for one row more than it keeps (to know whether the section was cut), the full export
(`services/privacy/export_job.py`) for all of them (`None`), a chunk at a time, so no
account's rows are ever held in memory at once. The erasure of the `users` row itself is
`users.erase`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import LiteralString

from shared_code.adapters.postgres.pool import Conn, Row

# Rows fetched per network read while a section streams.
CHUNK_ROWS = 500


async def _rows(conn: Conn, sql: LiteralString, user_id: str, limit: int | None) -> AsyncIterator[Row]:
    async for row in conn.cursor().stream(sql, (user_id, limit), size=CHUNK_ROWS):
        yield row


def profile(conn: Conn, user_id: str, limit: int | None) -> AsyncIterator[Row]:
    return _rows(
        conn, "SELECT id, name, email, roles, created_at, updated_at, erased_at FROM users WHERE id = %s LIMIT %s",
        user_id, limit,
    )


def enrollments(conn: Conn, user_id: str, limit: int | None) -> AsyncIterator[Row]:
    return _rows(
        conn,
        """SELECT course_id, source, status, created_at FROM enrollments
            WHERE user_id = %s ORDER BY created_at DESC LIMIT %s""",
        user_id, limit,
    )


def progress(conn: Conn, user_id: str, limit: int | None) -> AsyncIterator[Row]:
    """Lesson and video progress are one table: a document or quiz lesson's row is its completion."""
    return _rows(
        conn,
        """SELECT lesson_id, course_id, position_seconds, watched_seconds, duration_seconds, completed,
                  completed_at, updated_at
             FROM video_progress WHERE user_id = %s ORDER BY updated_at DESC LIMIT %s""",
        user_id, limit,
    )


def quiz_attempts(conn: Conn, user_id: str, limit: int | None) -> AsyncIterator[Row]:
    return _rows(
        conn,
        """SELECT id, quiz_id, course_id, attempt_no, answers, score, max_score, per_question, created_at
             FROM quiz_attempts WHERE user_id = %s ORDER BY created_at DESC LIMIT %s""",
        user_id, limit,
    )


def poll_votes(conn: Conn, user_id: str, limit: int | None) -> AsyncIterator[Row]:
    return _rows(
        conn,
        "SELECT poll_id, option, voted_at FROM poll_votes WHERE user_id = %s ORDER BY voted_at DESC LIMIT %s",
        user_id, limit,
    )


def chat_messages(conn: Conn, user_id: str, limit: int | None) -> AsyncIterator[Row]:
    return _rows(
        conn,
        """SELECT id, class_id, user_name, text, seq, created_at, deleted_at
             FROM chat_messages WHERE user_id = %s ORDER BY created_at DESC LIMIT %s""",
        user_id, limit,
    )


def notifications(conn: Conn, user_id: str, limit: int | None) -> AsyncIterator[Row]:
    return _rows(
        conn,
        """SELECT id, kind, title, body, data, created_at, read_at FROM notifications
            WHERE user_id = %s ORDER BY created_at DESC LIMIT %s""",
        user_id, limit,
    )


def calendar_feed(conn: Conn, user_id: str, limit: int | None) -> AsyncIterator[Row]:
    return _rows(conn, "SELECT version, rotated_at FROM calendar_feeds WHERE user_id = %s LIMIT %s", user_id, limit)


def certificates(conn: Conn, user_id: str, limit: int | None) -> AsyncIterator[Row]:
    return _rows(
        conn,
        """SELECT code, course_id, holder_name, course_title, issued_at FROM certificates
            WHERE user_id = %s ORDER BY issued_at DESC LIMIT %s""",
        user_id, limit,
    )


def moderation(conn: Conn, user_id: str, limit: int | None) -> AsyncIterator[Row]:
    return _rows(
        conn,
        """SELECT class_id, muted, banned, updated_at FROM class_moderation
            WHERE user_id = %s ORDER BY updated_at DESC LIMIT %s""",
        user_id, limit,
    )


def purchases(conn: Conn, user_id: str, limit: int | None) -> AsyncIterator[Row]:
    return _rows(
        conn,
        """SELECT id, provider, provider_ref, course_id, amount_cents, currency, status, refunded_cents,
                  paid_at, created_at, updated_at
             FROM purchases WHERE user_id = %s ORDER BY created_at DESC, id DESC LIMIT %s""",
        user_id, limit,
    )


def privacy_exports(conn: Conn, user_id: str, limit: int | None) -> AsyncIterator[Row]:
    """The person's full export requests: when, by whom, how each ended."""
    return _rows(
        conn,
        """SELECT id, status, requested_by, requested_at, completed_at, expires_at FROM privacy_exports
            WHERE user_id = %s ORDER BY requested_at DESC LIMIT %s""",
        user_id, limit,
    )


async def course_ids(conn: Conn, user_id: str, limit: int | None) -> list[str]:
    """Courses the user was ever enrolled in (a refunded enrolment too) or owns: the
    partitions their access rows, board names and classes can be in."""
    cur = await conn.execute(
        """SELECT course_id FROM enrollments WHERE user_id = %s
           UNION SELECT id FROM courses WHERE owner_id = %s
           LIMIT %s""",
        (user_id, user_id, limit),
    )
    return [str(r["course_id"]) for r in await cur.fetchall()]


async def class_ids(conn: Conn, user_id: str, course_ids: list[str], limit: int | None) -> list[str]:
    """Classes of those courses, and any class the user wrote in (their attendance and hot state)."""
    cur = await conn.execute(
        """SELECT id FROM live_classes WHERE course_id = ANY(%s::uuid[])
           UNION SELECT DISTINCT class_id FROM chat_messages WHERE user_id = %s
           LIMIT %s""",
        (course_ids, user_id, limit),
    )
    return [str(r["id"]) for r in await cur.fetchall()]


async def erase_chat(conn: Conn, user_id: str, placeholder_name: str, placeholder_text: str) -> int:
    """The user's messages stay in their place in each class's history, without their words or name."""
    cur = await conn.execute(
        """UPDATE chat_messages SET text = %s, user_name = %s
            WHERE user_id = %s AND (text <> %s OR user_name <> %s)""",
        (placeholder_text, placeholder_name, user_id, placeholder_text, placeholder_name),
    )
    return cur.rowcount


async def erase_idempotency_keys(conn: Conn, user_id: str) -> int:
    """Stored replies of the user's retried writes: copies of what they sent and got."""
    cur = await conn.execute("DELETE FROM idempotency_keys WHERE user_id = %s", (user_id,))
    return cur.rowcount


async def erase_notifications(conn: Conn, user_id: str) -> int:
    """The user's feed: texts written for them alone (the events they tell of are kept elsewhere)."""
    cur = await conn.execute("DELETE FROM notifications WHERE user_id = %s", (user_id,))
    return cur.rowcount


async def revoke_calendar_feed(conn: Conn, user_id: str) -> int:
    """The feed URL stops working: its version moves on (a deleted row would let version 1 count again)."""
    cur = await conn.execute(
        "UPDATE calendar_feeds SET version = version + 1, rotated_at = now() WHERE user_id = %s", (user_id,)
    )
    return cur.rowcount


async def erase_certificates(conn: Conn, user_id: str) -> list[str]:
    """The user's certificates (public by code, with their name on them); the PDFs' blob names."""
    cur = await conn.execute("DELETE FROM certificates WHERE user_id = %s RETURNING pdf_blob", (user_id,))
    return [r["pdf_blob"] for r in await cur.fetchall() if r["pdf_blob"]]
