"""SQL for `materials`: uploaded files, `pending` until the tutor publishes them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.postgres.rows import columns, fetch_all, fetch_one


@dataclass(frozen=True)
class MaterialRow:
    """A `materials` row; its fields are the columns every query here selects."""

    id: uuid.UUID
    course_id: uuid.UUID
    uploader_id: uuid.UUID
    blob_name: str
    file_name: str
    content_type: str
    size_bytes: int
    status: str  # pending, published
    created_at: datetime
    published_at: datetime | None
    taken_down_at: datetime | None
    taken_down_reason: str | None
    taken_down_by: uuid.UUID | None


COLUMNS = columns(MaterialRow)


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
) -> MaterialRow:
    row = await fetch_one(
        conn, MaterialRow,
        f"""INSERT INTO materials (id, course_id, uploader_id, blob_name, file_name, content_type, size_bytes)
            VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}""",
        (material_id, course_id, uploader_id, blob_name, file_name, content_type, size_bytes),
    )
    assert row is not None
    return row


async def get_material(conn: Conn, material_id: str) -> MaterialRow | None:
    return await fetch_one(conn, MaterialRow, f"SELECT {COLUMNS} FROM materials WHERE id = %s", (material_id,))


async def lock_material(conn: Conn, material_id: str) -> MaterialRow | None:
    """The material row, locked until the transaction ends."""
    return await fetch_one(conn, MaterialRow, f"SELECT {COLUMNS} FROM materials WHERE id = %s FOR UPDATE", (material_id,))


async def mark_published(conn: Conn, material_id: str, *, blob_name: str) -> MaterialRow | None:
    """Publishes a pending material, now stored at `blob_name`; None when it was already published (or is gone)."""
    return await fetch_one(
        conn, MaterialRow,
        f"""UPDATE materials SET status = 'published', published_at = now(), blob_name = %s
             WHERE id = %s AND status = 'pending' RETURNING {COLUMNS}""",
        (blob_name, material_id),
    )


async def delete_material(conn: Conn, material_id: str) -> MaterialRow | None:
    """Removes the row; the removed row, or None when it was already gone."""
    return await fetch_one(conn, MaterialRow, f"DELETE FROM materials WHERE id = %s RETURNING {COLUMNS}", (material_id,))


async def delete_stale_pending(conn: Conn, *, created_before: datetime, limit: int) -> list[MaterialRow]:
    """Removes up to `limit` uploads still pending that were started before `created_before`.

    SKIP LOCKED lets two cleanup runs (or a publish holding the row) pass each other by.
    """
    return await fetch_all(
        conn, MaterialRow,
        f"""DELETE FROM materials WHERE id IN (
                SELECT id FROM materials WHERE status = 'pending' AND created_at < %s
                 ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED)
            RETURNING {COLUMNS}""",
        (created_before, limit),
    )


async def list_published(
    conn: Conn, course_id: str, *, after: tuple[datetime, str] | None, limit: int, with_taken_down: bool = False
) -> list[MaterialRow]:
    """One page of published materials, newest first (served by materials_course_idx);
    taken-down ones only `with_taken_down` (for those who manage the course)."""
    hidden = "" if with_taken_down else " AND taken_down_at IS NULL"
    if after is None:
        return await fetch_all(
            conn, MaterialRow,
            f"""SELECT {COLUMNS} FROM materials WHERE course_id = %s AND status = 'published'{hidden}
                 ORDER BY published_at DESC, id DESC LIMIT %s""",
            (course_id, limit),
        )
    return await fetch_all(
        conn, MaterialRow,
        f"""SELECT {COLUMNS} FROM materials WHERE course_id = %s AND status = 'published'{hidden}
               AND (published_at, id) < (%s, %s)
             ORDER BY published_at DESC, id DESC LIMIT %s""",
        (course_id, after[0], after[1], limit),
    )


async def set_takedown(conn: Conn, material_id: str, *, reason: str | None, by: str | None) -> MaterialRow | None:
    """Takes the material down (`reason` and `by` set) or restores it (both None); the row after."""
    return await fetch_one(
        conn, MaterialRow,
        f"""UPDATE materials SET taken_down_at = CASE WHEN %(reason)s::text IS NULL THEN NULL ELSE now() END,
                   taken_down_reason = %(reason)s, taken_down_by = %(by)s
             WHERE id = %(material)s RETURNING {COLUMNS}""",
        {"reason": reason, "by": by, "material": material_id},
    )
