"""JSON for the hot paths (live events, acknowledgements, pushes): orjson, with the output
the standard library gave before.

A vote, a chat message or a heartbeat is parsed and answered in a few hundred
microseconds, and the standard library's encoder and decoder were a visible share of it.
orjson is several times faster; these helpers keep what callers relied on:

- values JSON has no type for are written as `str(value)`, as `json.dumps(default=str)`
  did (datetimes included, so a timestamp keeps its text form);
- keys that are not strings are written as strings;
- what orjson refuses to write (an integer past 64 bits) falls back to the standard
  library, so no value that used to serialise now fails.

Parsing is stricter than the standard library's in two ways that only refuse what no
client should send: the text must be UTF-8, and `NaN`/`Infinity` are not JSON.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME

DecodeError = orjson.JSONDecodeError  # a ValueError


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON."""
    try:
        return orjson.dumps(value, default=str, option=_OPTIONS)
    except TypeError:
        return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False).encode()


def document(value: Any) -> bytes:
    """Compact UTF-8 JSON for a file a person reads (a privacy export): datetimes in
    RFC 3339 (`2026-12-06T05:00:00+00:00`), as the API's answers give them."""
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS)


def loads(data: bytes | str) -> Any:
    """Raises `DecodeError` (a ValueError) for anything that is not UTF-8 JSON."""
    return orjson.loads(data)


def plain(value: Any) -> Any:
    """The value as plain JSON types (dicts, lists, strings, numbers), as a round trip
    through JSON gives it: what an SDK that serialises its argument itself must be handed."""
    return orjson.loads(dumps(value))
