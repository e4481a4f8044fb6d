"""Every Azure Table's key layout in one place, as `adapters/redis/keys.py` is for Redis: the
PartitionKey and RowKey a row of each table gets, and the key bounds its queries read by,
so the service that writes a row and the query that finds it cannot drift apart.

- audit: one partition per month, newest first (an inverted timestamp leads the row key).
- contentaccess: one partition per course and day, newest first.
- changelog: one partition per student, oldest first (epoch milliseconds lead the row key),
  so a time range is a row-key range.
- attendance: one partition per class, one row per connection and kind (join/leave).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

_MAX_MILLIS = 10**13  # epoch milliseconds fit in 13 digits until the year 2286
_WIDTH = 13
# Table storage forbids these in keys.
_KEY_UNSAFE = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")


def millis(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _newest_first(at: datetime) -> str:
    """A row key that sorts the newest row first, unique however many share a millisecond."""
    return f"{_MAX_MILLIS - millis(at):0{_WIDTH}d}-{uuid.uuid4().hex[:12]}"


# --- audit -------------------------------------------------------------------------------
def audit_month(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def audit_keys(at: datetime) -> tuple[str, str]:
    return audit_month(at.year, at.month), _newest_first(at)


# --- content access log --------------------------------------------------------------------
def access_log_keys(course_id: str, at: datetime) -> tuple[str, str]:
    return f"{course_id}_{at:%Y%m%d}", _newest_first(at)


# --- change log ----------------------------------------------------------------------------
def change_row_key(at: datetime, kind: str, subject_id: str) -> str:
    return f"{millis(at):0{_WIDTH}d}-{kind}-{subject_id}"


def change_row_bound(at_ms: int) -> str:
    """The row-key prefix of a millisecond: every key at or after `at_ms` sorts at or above it."""
    return f"{max(0, at_ms):0{_WIDTH}d}"


# --- attendance ----------------------------------------------------------------------------
def attendance_row_key(connection_id: str, kind: str) -> str:
    return f"{_KEY_UNSAFE.sub('_', connection_id)[:200]}.{kind}"
