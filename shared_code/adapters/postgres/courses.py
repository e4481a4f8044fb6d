"""SQL for `courses`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from psycopg import sql

from shared_code.adapters.postgres.pool import Conn, Row

COLUMNS = (
    "id, owner_id, title, description, price_cents, currency, published, published_at, version, created_at, updated_at,"
    " taken_down_at, taken_down_reason, taken_down_by"
)

# Columns PATCH may change; anything else is never interpolated into SQL.
EDITABLE = ("title", "description", "price_cents", "currency", "published")

Scope = Literal["published", "published_or_owned", "all"]


async def insert_course(
    conn: Conn,
    *,
    course_id: str,
    owner_id: str,
    title: str,
    description: str,
    price_cents: int,
    currency: str = "USD",
) -> Row:
    cur = await conn.execute(
        f"""INSERT INTO courses (id, owner_id, title, description, price_cents, currency)
            VALUES (%s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}""",
        (course_id, owner_id, title, description, price_cents, currency),
    )
    row = await cur.fetchone()
    assert row is not None
    return row


async def get_course(conn: Conn, course_id: str) -> Row | None:
    cur = await conn.execute(f"SELECT {COLUMNS} FROM courses WHERE id = %s", (course_id,))
    return await cur.fetchone()


async def lock_course(conn: Conn, course_id: str) -> Row | None:
    """The course row, locked until the transaction ends (serialises lesson inserts)."""
    cur = await conn.execute(f"SELECT {COLUMNS} FROM courses WHERE id = %s FOR UPDATE", (course_id,))
    return await cur.fetchone()


async def update_course(conn: Conn, course_id: str, changes: dict[str, Any]) -> Row | None:
    """Applies `changes` (keys from EDITABLE), bumps the version, stamps published_at on first publish."""
    assignments: list[sql.Composable] = [
        sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(name)) for name in changes if name in EDITABLE
    ]
    assignments.append(sql.SQL("version = version + 1"))
    assignments.append(sql.SQL("updated_at = now()"))
    if changes.get("published") is True:
        assignments.append(sql.SQL("published_at = COALESCE(published_at, now())"))
    query = sql.SQL("UPDATE courses SET {} WHERE id = {} RETURNING " + COLUMNS).format(
        sql.SQL(", ").join(assignments), sql.Placeholder("course_id")
    )
    cur = await conn.execute(query, {**{k: v for k, v in changes.items() if k in EDITABLE}, "course_id": course_id})
    return await cur.fetchone()


async def list_courses(
    conn: Conn,
    *,
    scope: Scope,
    viewer_id: str,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[Row]:
    """One page, newest first; `after` is the (created_at, id) of the previous page's last row."""
    # A taken-down course leaves the catalog; its owner still sees it (flagged), admins see all.
    where = {
        "published": "published AND taken_down_at IS NULL",
        "published_or_owned": "((published AND taken_down_at IS NULL) OR owner_id = %(viewer)s)",
        "all": "TRUE",
    }[scope]
    params: dict[str, Any] = {"viewer": viewer_id, "limit": limit}
    if after is not None:
        where += " AND (created_at, id) < (%(after_time)s, %(after_id)s)"
        params["after_time"], params["after_id"] = after
    cur = await conn.execute(
        f"SELECT {COLUMNS} FROM courses WHERE {where} ORDER BY created_at DESC, id DESC LIMIT %(limit)s",  # noqa: S608 - fixed fragments only
        params,
    )
    return await cur.fetchall()


async def set_takedown(conn: Conn, course_id: str, *, reason: str | None, by: str | None) -> Row | None:
    """Takes the course down (`reason` and `by` set) or restores it (both None); the row after,
    None when there is no such course. Not a content edit: the version stays."""
    cur = await conn.execute(
        f"""UPDATE courses SET taken_down_at = CASE WHEN %(reason)s::text IS NULL THEN NULL ELSE now() END,
                   taken_down_reason = %(reason)s, taken_down_by = %(by)s, updated_at = now()
             WHERE id = %(course)s RETURNING {COLUMNS}""",
        {"reason": reason, "by": by, "course": course_id},
    )
    return await cur.fetchone()
