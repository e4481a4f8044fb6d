"""SQL for `calendar_feeds`: the version each user's calendar feed URL must carry."""

from __future__ import annotations

from shared_code.adapters.postgres.pool import Conn


async def rotate(conn: Conn, user_id: str) -> int:
    """The user's next feed version (1 for the first feed); every older version stops counting."""
    cur = await conn.execute(
        """INSERT INTO calendar_feeds (user_id, version) VALUES (%s, 1)
           ON CONFLICT (user_id) DO UPDATE SET version = calendar_feeds.version + 1, rotated_at = now()
           RETURNING version""",
        (user_id,),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row["version"])


async def current_version(conn: Conn, user_id: str) -> int | None:
    cur = await conn.execute("SELECT version FROM calendar_feeds WHERE user_id = %s", (user_id,))
    row = await cur.fetchone()
    return int(row["version"]) if row else None
