"""Cursors are opaque round-trippable keys; anything else is a 400 naming the field."""

import pytest

from shared_code.errors import ValidationFailed
from shared_code.pagination import decode_cursor, encode_cursor


def test_a_cursor_round_trips():
    key = {"createdAt": "2026-01-01T00:00:00+00:00", "id": "abc"}
    assert decode_cursor(encode_cursor(key)) == key


@pytest.mark.parametrize("bad", ["%%%", "bm90IGpzb24", "WzEsMl0"])
def test_foreign_cursors_are_refused(bad):
    with pytest.raises(ValidationFailed) as err:
        decode_cursor(bad)
    assert err.value.errors[0].field == "cursor"


def test_no_cursor_means_first_page():
    assert decode_cursor(None) is None
