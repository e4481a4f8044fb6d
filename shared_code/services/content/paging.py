"""Keyset cursors for content lists ordered newest first by (timestamp, id).

The cursor carries the last row's timestamp and id; the next page is every row strictly
before that pair, so rows added meanwhile never shift a page or repeat one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared_code.errors import FieldError, ValidationFailed
from shared_code.pagination import decode_cursor, encode_cursor


def _refuse() -> ValidationFailed:
    return ValidationFailed(errors=[FieldError("cursor", "not a cursor this API issued")])


def cursor_after(at: datetime | str, row_id: Any) -> str:
    """The cursor that continues after a row with this timestamp and id."""
    stamp = at.isoformat() if isinstance(at, datetime) else str(at)
    return encode_cursor({"t": stamp, "id": str(row_id)})


def position_of(cursor: str | None) -> tuple[datetime, str] | None:
    """The (timestamp, id) a cursor points after; None for the first page; 400 for anything forged."""
    key = decode_cursor(cursor)
    if key is None:
        return None
    stamp, row_id = key.get("t"), key.get("id")
    if not isinstance(stamp, str) or not isinstance(row_id, str):
        raise _refuse()
    try:
        at = datetime.fromisoformat(stamp)
        parsed_id = str(uuid.UUID(row_id))
    except ValueError:
        raise _refuse() from None
    if at.tzinfo is None:
        raise _refuse()
    return at, parsed_id


def split_page[R](rows: list[R], limit: int, time_field: str) -> tuple[list[R], str | None]:
    """Rows fetched with `limit + 1` (dicts or row values): the page, and a cursor when a
    further row exists."""
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    last = page[-1]
    if isinstance(last, Mapping):
        return page, cursor_after(last[time_field], last["id"])
    return page, cursor_after(getattr(last, time_field), getattr(last, "id"))  # noqa: B009 - a row value
