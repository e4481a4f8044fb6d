"""SQL for `class_moderation`: who is muted or banned in a class."""

from __future__ import annotations

from typing import Any

from shared_code.adapters.postgres.pool import Conn, Row


async def set_flags(
    conn: Conn,
    class_id: str,
    user_id: str,
    *,
    muted: bool | None = None,
    banned: bool | None = None,
    updated_by: str,
) -> Row:
    """Sets the given flags (None leaves a flag as it is) and returns the row."""
    cur = await conn.execute(
        """INSERT INTO class_moderation (class_id, user_id, muted, banned, updated_by)
           VALUES (%(c)s, %(u)s, COALESCE(%(m)s, false), COALESCE(%(b)s, false), %(by)s)
           ON CONFLICT (class_id, user_id) DO UPDATE
               SET muted = COALESCE(%(m)s, class_moderation.muted),
                   banned = COALESCE(%(b)s, class_moderation.banned),
                   updated_by = %(by)s, updated_at = now()
           RETURNING class_id, user_id, muted, banned, updated_at""",
        {"c": class_id, "u": user_id, "m": muted, "b": banned, "by": updated_by},
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def flags_of_class(conn: Conn, class_id: str) -> dict[str, dict[str, Any]]:
    cur = await conn.execute(
        "SELECT user_id, muted, banned FROM class_moderation WHERE class_id = %s AND (muted OR banned)", (class_id,)
    )
    return {str(r["user_id"]): r for r in await cur.fetchall()}


async def flags_of_user(conn: Conn, class_id: str, user_id: str) -> Row | None:
    cur = await conn.execute(
        "SELECT muted, banned FROM class_moderation WHERE class_id = %s AND user_id = %s", (class_id, user_id)
    )
    return await cur.fetchone()
