"""SQL for `materials`: uploaded files, `pending` until the tutor publishes them."""

from __future__ import annotations

from datetime import datetime

from shared_code.adapters.postgres.pool import Conn, Row

COLUMNS = (
    "id, course_id, uploader_id, blob_name, file_name, content_type, size_bytes, status, created_at, published_at,"
    " taken_down_at, taken_down_reason, taken_down_by"
)


async def insert_pending(
    conn: Conn,
    *,
    material_id: str,
    course_id: str,
    uploader_id: str,
    blob_name: str,
    file_name: str,
    content_type: str,
    size_bytes: int,
) -> Row:
    cur = await conn.execute(
        f"""INSERT INTO materials (id, course_id, uploader_id, blob_name, file_name, content_type, size_bytes)
            VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}""",
        (material_id, course_id, uploader_id, blob_name, file_name, content_type, size_bytes),
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def get_material(conn: Conn, material_id: str) -> Row | None:
    cur = await conn.execute(f"SELECT {COLUMNS} FROM materials WHERE id = %s", (material_id,))
    return await cur.fetchone()


async def lock_material(conn: Conn, material_id: str) -> Row | None:
    """The material row, locked until the transaction ends."""
    cur = await conn.execute(f"SELECT {COLUMNS} FROM materials WHERE id = %s FOR UPDATE", (material_id,))
    return await cur.fetchone()


async def mark_published(conn: Conn, material_id: str, *, blob_name: str) -> Row | None:
    """Publishes a pending material, now stored at `blob_name`; None when it was already published (or is gone)."""
    cur = await conn.execute(
        f"""UPDATE materials SET status = 'published', published_at = now(), blob_name = %s
             WHERE id = %s AND status = 'pending' RETURNING {COLUMNS}""",
        (blob_name, material_id),
    )
    return await cur.fetchone()


async def delete_material(conn: Conn, material_id: str) -> Row | None:
    """Removes the row; the removed row, or None when it was already gone."""
    cur = await conn.execute(f"DELETE FROM materials WHERE id = %s RETURNING {COLUMNS}", (material_id,))
    return await cur.fetchone()


async def delete_stale_pending(conn: Conn, *, created_before: datetime, limit: int) -> list[Row]:
    """Removes up to `limit` uploads still pending that were started before `created_before`.

    SKIP LOCKED lets two cleanup runs (or a publish holding the row) pass each other by.
    """
    cur = await conn.execute(
        f"""DELETE FROM materials WHERE id IN (
                SELECT id FROM materials WHERE status = 'pending' AND created_at < %s
                 ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED)
            RETURNING {COLUMNS}""",
        (created_before, limit),
    )
    return await cur.fetchall()


async def list_published(
    conn: Conn, course_id: str, *, after: tuple[datetime, str] | None, limit: int, with_taken_down: bool = False
) -> list[Row]:
    """One page of published materials, newest first (served by materials_course_idx);
    taken-down ones only `with_taken_down` (for those who manage the course)."""
    hidden = "" if with_taken_down else " AND taken_down_at IS NULL"
    if after is None:
        cur = await conn.execute(
            f"""SELECT {COLUMNS} FROM materials WHERE course_id = %s AND status = 'published'{hidden}
                 ORDER BY published_at DESC, id DESC LIMIT %s""",
            (course_id, limit),
        )
    else:
        cur = await conn.execute(
            f"""SELECT {COLUMNS} FROM materials WHERE course_id = %s AND status = 'published'{hidden}
                   AND (published_at, id) < (%s, %s)
                 ORDER BY published_at DESC, id DESC LIMIT %s""",
            (course_id, after[0], after[1], limit),
        )
    return await cur.fetchall()


async def set_takedown(conn: Conn, material_id: str, *, reason: str | None, by: str | None) -> Row | None:
    """Takes the material down (`reason` and `by` set) or restores it (both None); the row after."""
    cur = await conn.execute(
        f"""UPDATE materials SET taken_down_at = CASE WHEN %(reason)s::text IS NULL THEN NULL ELSE now() END,
                   taken_down_reason = %(reason)s, taken_down_by = %(by)s
             WHERE id = %(material)s RETURNING {COLUMNS}""",
        {"reason": reason, "by": by, "material": material_id},
    )
    return await cur.fetchone()
