"""SQL for `courses`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg import sql
from psycopg.rows import class_row

from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.postgres.rows import columns, fetch_all, fetch_one


@dataclass(frozen=True)
class CourseRow:
    """A `courses` row; its fields are the columns every query here selects (the content
    cache keeps it as a JSON dict: `platform/content_cache.py`)."""

    id: uuid.UUID
    owner_id: uuid.UUID
    title: str
    description: str
    price_cents: int
    currency: str
    published: bool
    published_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
    taken_down_at: datetime | None
    taken_down_reason: str | None
    taken_down_by: uuid.UUID | None


@dataclass(frozen=True)
class RankedCourse(CourseRow):
    """A course a search found, with how well it matched (`ts_rank`)."""

    rank: float


COLUMNS = columns(CourseRow)

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
) -> CourseRow:
    row = await fetch_one(
        conn, CourseRow,
        f"""INSERT INTO courses (id, owner_id, title, description, price_cents, currency)
            VALUES (%s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}""",
        (course_id, owner_id, title, description, price_cents, currency),
    )
    assert row is not None
    return row


async def get_course(conn: Conn, course_id: str) -> CourseRow | None:
    return await fetch_one(conn, CourseRow, f"SELECT {COLUMNS} FROM courses WHERE id = %s", (course_id,))


async def lock_course(conn: Conn, course_id: str) -> CourseRow | None:
    """The course row, locked until the transaction ends (serialises lesson inserts)."""
    return await fetch_one(conn, CourseRow, f"SELECT {COLUMNS} FROM courses WHERE id = %s FOR UPDATE", (course_id,))


async def update_course(conn: Conn, course_id: str, changes: dict[str, Any]) -> CourseRow | None:
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
    async with conn.cursor(row_factory=class_row(CourseRow)) as cur:
        await cur.execute(query, {**{k: v for k, v in changes.items() if k in EDITABLE}, "course_id": course_id})
        return await cur.fetchone()


# A taken-down course leaves the catalog; its owner still sees it (flagged), admins see all.
_SCOPES = {
    "published": "published AND taken_down_at IS NULL",
    "published_or_owned": "((published AND taken_down_at IS NULL) OR owner_id = %(viewer)s)",
    "all": "TRUE",
}

# The text search configuration of courses.search_vector (migration 0054): a query must
# be parsed with the same one, or its words would not stem the way the column's did.
SEARCH_CONFIG = "english"


@dataclass(frozen=True)
class CatalogFilter:
    """What narrows a catalog listing, each part optional."""

    price: Literal["free", "paid"] | None = None
    owner_id: str | None = None
    published_from: datetime | None = None
    published_to: datetime | None = None


def _filtered(scope: Scope, viewer_id: str, narrow: CatalogFilter) -> tuple[str, dict[str, Any]]:
    where = [_SCOPES[scope]]
    params: dict[str, Any] = {"viewer": viewer_id}
    if narrow.price == "free":
        where.append("price_cents = 0")
    elif narrow.price == "paid":
        where.append("price_cents > 0")
    if narrow.owner_id is not None:
        where.append("owner_id = %(owner)s")
        params["owner"] = narrow.owner_id
    if narrow.published_from is not None:
        where.append("published_at >= %(published_from)s")
        params["published_from"] = narrow.published_from
    if narrow.published_to is not None:
        where.append("published_at < %(published_to)s")
        params["published_to"] = narrow.published_to
    return " AND ".join(where), params


async def list_courses(
    conn: Conn,
    *,
    scope: Scope,
    viewer_id: str,
    after: tuple[datetime, str] | None,
    limit: int,
    narrow: CatalogFilter | None = None,
) -> list[CourseRow]:
    """One page, newest first; `after` is the (created_at, id) of the previous page's last row."""
    where, params = _filtered(scope, viewer_id, narrow or CatalogFilter())
    params["limit"] = limit
    if after is not None:
        where += " AND (created_at, id) < (%(after_time)s, %(after_id)s)"
        params["after_time"], params["after_id"] = after
    return await fetch_all(
        conn, CourseRow,
        f"SELECT {COLUMNS} FROM courses WHERE {where} ORDER BY created_at DESC, id DESC LIMIT %(limit)s",  # noqa: S608 - fixed fragments only
        params,
    )


async def search_courses(
    conn: Conn,
    *,
    scope: Scope,
    viewer_id: str,
    text: str,
    after: tuple[float, str] | None,
    limit: int,
    narrow: CatalogFilter | None = None,
) -> list[RankedCourse]:
    """One page of the courses matching `text` (web search syntax: words, "phrases", -not, or),
    best match first, ties by id; each row carries its `rank`. `after` is the (rank, id) of
    the previous page's last row. The rank is a `real`, and the cursor hands back exactly
    the value PostgreSQL produced, so the comparison below lands between the same two rows."""
    where, params = _filtered(scope, viewer_id, narrow or CatalogFilter())
    params.update({"text": text, "limit": limit, "config": SEARCH_CONFIG})
    keyset = ""
    if after is not None:
        keyset = "WHERE (rank, id) < (%(after_rank)s::real, %(after_id)s::uuid)"
        params["after_rank"], params["after_id"] = after
    return await fetch_all(
        conn, RankedCourse,
        f"""SELECT {columns(RankedCourse)} FROM (
                SELECT {COLUMNS}, ts_rank(search_vector, query) AS rank
                  FROM courses, websearch_to_tsquery(%(config)s::regconfig, %(text)s) AS query
                 WHERE search_vector @@ query AND {where}
            ) found {keyset}
            ORDER BY rank DESC, id DESC LIMIT %(limit)s""",  # noqa: S608 - fixed fragments only
        params,
    )


async def set_takedown(conn: Conn, course_id: str, *, reason: str | None, by: str | None) -> CourseRow | None:
    """Takes the course down (`reason` and `by` set) or restores it (both None); the row after,
    None when there is no such course. Not a content edit: the version stays."""
    return await fetch_one(
        conn, CourseRow,
        f"""UPDATE courses SET taken_down_at = CASE WHEN %(reason)s::text IS NULL THEN NULL ELSE now() END,
                   taken_down_reason = %(reason)s, taken_down_by = %(by)s, updated_at = now()
             WHERE id = %(course)s RETURNING {COLUMNS}""",
        {"reason": reason, "by": by, "course": course_id},
    )
