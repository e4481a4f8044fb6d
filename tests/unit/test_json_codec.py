"""The hot paths' JSON (`shared_code/json_codec.py`) writes what the standard library wrote
before, and parses only UTF-8 JSON."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared_code import json_codec

pytestmark = pytest.mark.unit


def stdlib(value: object) -> bytes:
    return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.parametrize("value", [
    {"at": datetime(2026, 12, 5, 3, 45, 11, 485000, tzinfo=UTC), "id": uuid.UUID(int=7)},
    {1: "one", "nested": [{"é": "ü", "n": None, "t": True}]},
    {"amount": Decimal("12.50"), "big": 2**70, "text": "line\nbreak \"quoted\" 😀"},
])
def test_values_are_written_as_the_standard_library_wrote_them(value):
    assert json_codec.dumps(value) == stdlib(value)


def test_plain_gives_what_a_json_round_trip_gives():
    value = {"at": datetime(2026, 1, 2, tzinfo=UTC), 3: [uuid.UUID(int=1)]}
    assert json_codec.plain(value) == json.loads(stdlib(value))


@pytest.mark.parametrize("text", [
    '{"text": "utf-16"}'.encode("utf-16"),
    b'{"a": NaN}',
    b'{"a": 1,}',
    b"\xff\xfe",
])
def test_only_utf8_json_is_parsed(text):
    with pytest.raises(ValueError):
        json_codec.loads(text)
