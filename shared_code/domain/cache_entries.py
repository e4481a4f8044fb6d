"""What a cached content entry is and when a reader may believe it.

An entry is a row (as JSON-safe values) tagged with the course's generation token read
before the row was; it is accepted only under the generation that is current now, so an
entry filled before a write's commit is never served once the writer has answered.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def plain(value: Any) -> Any:
    """A row as JSON-safe values, so cached and freshly read rows are the same thing."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


def entry(generation: str, data: Any) -> str:
    return json.dumps({"g": generation, "d": data}, separators=(",", ":"))


# Hot entries arrive as the same text again and again; parsing each text once saves the
# JSON decode on every read. Keyed by the full text, so a changed entry is a new key.
# Callers treat the parsed values as read-only.
PARSED_MAX = 4096


def accept(raw: str | None, generation: str | None, parsed: dict[str, Any]) -> Any | None:
    """The cached data when it was read under the current generation, else None.

    `parsed` memoises the decoded texts (`ctx.content_cache.parsed`).
    """
    if raw is None or generation is None:
        return None
    entry = parsed.get(raw)
    if entry is None:
        try:
            entry = json.loads(raw)
        except ValueError:
            return None
        if len(parsed) >= PARSED_MAX:
            parsed.clear()
        parsed[raw] = entry
    if not isinstance(entry, dict) or entry.get("g") != generation:
        return None
    return entry.get("d")
