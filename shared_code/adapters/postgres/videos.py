"""SQL for `video_assets`: the registry of videos, each owned by the tutor who registered it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared_code.adapters.postgres.pool import Conn

COLUMNS = "id, owner_id, course_id, title, duration_seconds, provider, playback_id, created_at"


@dataclass(frozen=True)
class VideoAsset:
    id: str
    owner_id: str
    course_id: str | None
    title: str
    duration_seconds: int | None
    provider: str
    playback_id: str
    created_at: datetime


def _asset(row: dict[str, Any]) -> VideoAsset:
    return VideoAsset(
        id=str(row["id"]),
        owner_id=str(row["owner_id"]),
        course_id=str(row["course_id"]) if row["course_id"] is not None else None,
        title=row["title"],
        duration_seconds=row["duration_seconds"],
        provider=row["provider"],
        playback_id=row["playback_id"],
        created_at=row["created_at"],
    )


async def insert_video(
    conn: Conn,
    *,
    video_id: str,
    owner_id: str,
    course_id: str | None,
    title: str,
    duration_seconds: int | None,
    provider: str,
    playback_id: str,
) -> VideoAsset:
    cur = await conn.execute(
        f"""INSERT INTO video_assets (id, owner_id, course_id, title, duration_seconds, provider, playback_id)
            VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}""",
        (video_id, owner_id, course_id, title, duration_seconds, provider, playback_id),
    )
    row = await cur.fetchone()
    assert row is not None
    return _asset(row)


async def get_video(conn: Conn, video_id: str) -> VideoAsset | None:
    """The asset with this id; None for an unknown id or one that is not a UUID at all."""
    try:
        key = uuid.UUID(video_id)
    except ValueError:
        return None
    cur = await conn.execute(f"SELECT {COLUMNS} FROM video_assets WHERE id = %s", (key,))
    row = await cur.fetchone()
    return _asset(row) if row else None


async def list_for_owner(conn: Conn, owner_id: str, *, after: tuple[datetime, str] | None, limit: int) -> list[VideoAsset]:
    """The videos `owner_id` registered, newest first, strictly after the (created_at, id) `after`."""
    if after is None:
        cur = await conn.execute(
            f"SELECT {COLUMNS} FROM video_assets WHERE owner_id = %s ORDER BY created_at DESC, id DESC LIMIT %s",
            (owner_id, limit),
        )
    else:
        cur = await conn.execute(
            f"""SELECT {COLUMNS} FROM video_assets WHERE owner_id = %s AND (created_at, id) < (%s, %s::uuid)
                 ORDER BY created_at DESC, id DESC LIMIT %s""",
            (owner_id, after[0], after[1], limit),
        )
    return [_asset(row) for row in await cur.fetchall()]
