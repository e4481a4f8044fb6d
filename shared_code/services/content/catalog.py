"""The course catalog: `GET /api/courses` with full-text search, filters and stable paging.

Visibility is the courses' own rule (students see published courses, a tutor also their
drafts, admins everything), applied inside the query, so a search never finds a draft
the caller may not see. Without `q` the newest courses come first and the cursor is the
(created_at, id) keyset of `paging.py`. With `q` the best matches come first (`ts_rank`
over the title and description, the title weighing more), ties by id, and the cursor
carries the last row's exact rank and id plus a fingerprint of the search it belongs to:
a cursor from another search, or one made up, is a 400 rather than a page of the wrong list.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid

from shared_code.adapters.postgres import courses as courses_sql
from shared_code.adapters.postgres.courses import CourseRow
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import FieldError, ValidationFailed
from shared_code.models.content import Course, CoursePage, CourseQuery
from shared_code.pagination import decode_cursor, encode_cursor
from shared_code.services.content.paging import position_of, split_page


def _scope(principal: Principal) -> courses_sql.Scope:
    if principal.is_admin:
        return "all"
    if principal.has_role("tutor"):
        return "published_or_owned"
    return "published"


def _narrowing(query: CourseQuery) -> courses_sql.CatalogFilter:
    return courses_sql.CatalogFilter(
        price=query.price,
        owner_id=str(query.tutor_id) if query.tutor_id else None,
        published_from=query.published_from,
        published_to=query.published_to,
    )


def search_fingerprint(query: CourseQuery) -> str:
    """Names the search a cursor belongs to: the text and every filter."""
    parts = [query.q, query.price, query.tutor_id, query.published_from, query.published_to]
    raw = json.dumps([None if p is None else str(p) for p in parts], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _refuse() -> ValidationFailed:
    return ValidationFailed(errors=[FieldError("cursor", "not a cursor this API issued for this search")])


def rank_position(cursor: str | None, fingerprint: str) -> tuple[float, str] | None:
    """The (rank, id) a search cursor points after; None for the first page; 400 for anything else."""
    key = decode_cursor(cursor)
    if key is None:
        return None
    rank, row_id, search = key.get("r"), key.get("id"), key.get("s")
    if search != fingerprint or not isinstance(row_id, str):
        raise _refuse()
    if isinstance(rank, bool) or not isinstance(rank, int | float) or not math.isfinite(rank) or rank < 0:
        raise _refuse()
    try:
        return float(rank), str(uuid.UUID(row_id))
    except ValueError:
        raise _refuse() from None


def _course(row: CourseRow) -> Course:
    return Course.model_validate(row)


async def list_courses(ctx: AppContext, principal: Principal, query: CourseQuery) -> CoursePage:
    scope, narrow, limit = _scope(principal), _narrowing(query), query.limit
    if query.q is None:
        after = position_of(query.cursor)
        async with ctx.db.connection() as conn:
            rows = await courses_sql.list_courses(
                conn, scope=scope, viewer_id=principal.user_id, after=after, limit=limit + 1, narrow=narrow
            )
        page, next_cursor = split_page(rows, limit, "created_at")
        return CoursePage(items=[_course(r) for r in page], next_cursor=next_cursor)

    fingerprint = search_fingerprint(query)
    ranked_after = rank_position(query.cursor, fingerprint)
    async with ctx.db.connection() as conn:
        ranked = await courses_sql.search_courses(
            conn, scope=scope, viewer_id=principal.user_id, text=query.q, after=ranked_after, limit=limit + 1,
            narrow=narrow,
        )
    found = ranked[:limit]
    next_cursor = None
    if len(ranked) > limit:
        last = found[-1]
        next_cursor = encode_cursor({"r": float(last.rank), "id": str(last.id), "s": fingerprint})
    return CoursePage(items=[_course(r) for r in found], next_cursor=next_cursor)
