"""Cursor pagination: `?limit=&cursor=` in, `{items, nextCursor}` out.

A cursor is the opaque, URL-safe encoding of the last row's sort key, so pages stay stable
while rows are added (keyset pagination, no OFFSET scans).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from pydantic import Field

from shared_code.errors import FieldError, ValidationFailed
from shared_code.models.base import ApiModel

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class PageQuery(ApiModel):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, max_length=512)


class Page[T](ApiModel):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(key: dict[str, Any]) -> str:
    raw = json.dumps(key, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError):
        raise ValidationFailed(errors=[FieldError("cursor", "not a cursor this API issued")]) from None
    if not isinstance(value, dict):
        raise ValidationFailed(errors=[FieldError("cursor", "not a cursor this API issued")])
    return value
