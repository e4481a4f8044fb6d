"""SQL for `chat_messages`: the lasting copy of every chat message, with its class seq."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared_code.adapters.postgres.pool import Conn, Row

_COLUMNS = "id, class_id, user_id, user_name, text, seq, created_at"


@dataclass(frozen=True)
class NewMessage:
    """A chat message to store, as the class's Redis script numbered it."""

    id: str
    class_id: str
    user_id: str
    user_name: str
    text: str
    seq: int
    created_at: datetime


async def insert_messages(conn: Conn, messages: list[NewMessage]) -> None:
    """Stores the messages in one statement: the messages of a moment, whatever their
    class, cost one round trip and one commit (the connection autocommits)."""
    await conn.execute(
        """INSERT INTO chat_messages (id, class_id, user_id, user_name, text, seq, created_at)
           SELECT * FROM unnest(%s::uuid[], %s::uuid[], %s::uuid[], %s::text[], %s::text[], %s::bigint[],
                                %s::timestamptz[])""",
        (
            [m.id for m in messages], [m.class_id for m in messages], [m.user_id for m in messages],
            [m.user_name for m in messages], [m.text for m in messages], [m.seq for m in messages],
            [m.created_at for m in messages],
        ),
    )


async def mark_deleted(conn: Conn, class_id: str, message_id: str, deleted_by: str) -> str | None:
    """'deleted', 'already' (deleted before), or None when the class has no such message."""
    cur = await conn.execute(
        """UPDATE chat_messages SET deleted_at = now(), deleted_by = %s
            WHERE id = %s AND class_id = %s AND deleted_at IS NULL RETURNING id""",
        (deleted_by, message_id, class_id),
    )
    if await cur.fetchone() is not None:
        return "deleted"
    cur = await conn.execute("SELECT 1 FROM chat_messages WHERE id = %s AND class_id = %s", (message_id, class_id))
    return "already" if await cur.fetchone() is not None else None


async def page(conn: Conn, class_id: str, limit: int, before_seq: int | None) -> list[Row]:
    """Visible messages, newest first, older than `before_seq` when given."""
    if before_seq is None:
        cur = await conn.execute(
            f"""SELECT {_COLUMNS} FROM chat_messages WHERE class_id = %s AND deleted_at IS NULL
                 ORDER BY seq DESC LIMIT %s""",
            (class_id, limit),
        )
    else:
        cur = await conn.execute(
            f"""SELECT {_COLUMNS} FROM chat_messages WHERE class_id = %s AND deleted_at IS NULL AND seq < %s
                 ORDER BY seq DESC LIMIT %s""",
            (class_id, before_seq, limit),
        )
    return await cur.fetchall()
