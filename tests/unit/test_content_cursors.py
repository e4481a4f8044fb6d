"""Content list cursors: round trip, page splitting, and refusal of anything forged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared_code.errors import ValidationFailed
from shared_code.pagination import encode_cursor
from shared_code.services.content.paging import cursor_after, position_of, split_page

AT = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
ID = "0b7c5d1e-3f4a-4b6c-9d8e-5a1f2c3b4d6e"


def test_a_cursor_points_after_the_row_it_was_made_from():
    assert position_of(cursor_after(AT, ID)) == (AT, ID)


def test_a_cursor_keeps_microseconds_so_rows_in_the_same_second_are_not_skipped():
    at, _ = position_of(cursor_after(AT.isoformat(), ID))
    assert at.microsecond == 123456


def test_no_cursor_is_the_first_page():
    assert position_of(None) is None and position_of("") is None


@pytest.mark.parametrize(
    "key",
    [
        {"t": AT.isoformat()},
        {"t": "yesterday", "id": ID},
        {"t": AT.isoformat(), "id": "not-a-uuid"},
        {"t": "2026-03-01T12:00:00", "id": ID},
        {"t": 5, "id": ID},
    ],
)
def test_forged_cursors_are_refused_on_the_cursor_field(key):
    with pytest.raises(ValidationFailed) as err:
        position_of(encode_cursor(key))
    assert err.value.errors[0].field == "cursor"


def _rows(n: int) -> list[dict]:
    return [{"id": f"00000000-0000-4000-8000-{i:012d}", "created_at": AT.replace(second=59 - i)} for i in range(n)]


def test_a_full_page_with_more_rows_gives_a_cursor_after_its_last_row():
    rows = _rows(4)
    page, cursor = split_page(rows, 3, "created_at")
    assert page == rows[:3]
    assert position_of(cursor) == (rows[2]["created_at"], rows[2]["id"])


@pytest.mark.parametrize("n", [0, 2, 3])
def test_the_last_page_has_no_cursor(n):
    page, cursor = split_page(_rows(n), 3, "created_at")
    assert len(page) == n and cursor is None
