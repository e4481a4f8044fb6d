"""The caller's calendar of live classes, and the secret iCalendar feed calendar apps subscribe to.

- **Whose classes.** Those of the published courses the caller is enrolled in (an active
  enrolment: a refund or leaving takes the classes off at once) and, for a tutor, of the
  courses they own. Read at every request, so the feed follows enrolments by itself.
- **Range.** `from`..`to`, by default the next 30 days, at most 92 days (a quarter) so one
  request cannot ask for years of classes; the server's clock decides "now".
- **The feed URL** carries a token that names the user and a version, signed with
  HMAC-SHA256 under `LECTERN_CALENDAR_FEED_KEY`. Calendar apps cannot send a bearer token,
  so the URL is the secret: asking for a new one bumps the stored version, and a token
  with an older version (or a forged signature) is a 404, like a feed that never existed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from icalendar import Calendar, Event

from shared_code.adapters.postgres import calendar_feeds as feeds_sql
from shared_code.adapters.postgres import classes as classes_sql
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import FieldError, Invalid, NotFound
from shared_code.models.me import CalendarEntry, CalendarFeed, CalendarPage, CalendarQuery
from shared_code.platform import audit
from shared_code.platform.users import stored_principal
from shared_code.services.content.paging import position_of, split_page

DEFAULT_DAYS = 30
MAX_DAYS = 92
# The feed: yesterday's classes stay visible for a day, then the next quarter.
FEED_PAST = timedelta(days=1)
FEED_AHEAD = timedelta(days=MAX_DAYS)
FEED_MAX_EVENTS = 500
# Classes have no end time; calendars show an hour.
CLASS_LENGTH = timedelta(hours=1)
MAX_TOKEN_LENGTH = 256


def _now() -> datetime:
    return datetime.now(UTC)


def _range(query: CalendarQuery) -> tuple[datetime, datetime]:
    start = query.from_ or _now()
    end = query.to or start + timedelta(days=DEFAULT_DAYS)
    if end < start:
        raise Invalid("The range ends before it starts.", errors=[FieldError("to", "must not be before 'from' (default: now)")])
    if end - start > timedelta(days=MAX_DAYS):
        raise Invalid(
            f"The range is longer than {MAX_DAYS} days.",
            errors=[FieldError("to", f"at most {MAX_DAYS} days after 'from'")],
        )
    return start, end


def _entry(row: dict[str, Any]) -> CalendarEntry:
    return CalendarEntry(
        id=row["id"], course_id=row["course_id"], course_title=row["course_title"], title=row["title"],
        scheduled_at=row["scheduled_at"], status=row["status"], role=row["role"],
    )


async def list_classes(ctx: AppContext, principal: Principal, query: CalendarQuery) -> CalendarPage:
    """The caller's upcoming classes in the range, earliest first, paged."""
    start, end = _range(query)
    after = position_of(query.cursor)
    async with ctx.db.connection() as conn:
        rows = await classes_sql.calendar_of(
            conn, principal.user_id, as_owner=principal.has_role("tutor"), start=start, end=end, after=after,
            limit=query.limit + 1,
        )
    page, next_cursor = split_page(rows, query.limit, "scheduled_at")
    return CalendarPage(items=[_entry(r) for r in page], next_cursor=next_cursor)


# --- the feed token ----------------------------------------------------------------------
def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, user_id: str, version: int) -> bytes:
    return hmac.new(key, f"calendar-feed:{user_id}:{version}".encode(), hashlib.sha256).digest()


def feed_token(key: bytes, user_id: str, version: int) -> str:
    """`<user and version>.<signature>`, both base64url: safe in a URL path segment."""
    body = uuid.UUID(user_id).bytes + version.to_bytes(4, "big")
    return f"{_b64(body)}.{_b64(_signature(key, user_id, version))}"


def read_token(key: bytes, token: str) -> tuple[str, int] | None:
    """The (user id, version) a token names when its signature is ours; None otherwise."""
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        return None
    body_text, signature_text = token.split(".")
    try:
        body, signature = _unb64(body_text), _unb64(signature_text)
    except (ValueError, binascii.Error):
        return None
    if len(body) != 20:
        return None
    user_id, version = str(uuid.UUID(bytes=body[:16])), int.from_bytes(body[16:], "big")
    if not hmac.compare_digest(signature, _signature(key, user_id, version)):
        return None
    return user_id, version


async def rotate_feed(ctx: AppContext, principal: Principal) -> CalendarFeed:
    """A new feed URL for the caller; the one before stops working."""
    key = ctx.settings.calendar_feed_signing_key
    async with ctx.db.transaction() as conn:
        version = await feeds_sql.rotate(conn, principal.user_id)
    await audit.record(ctx, principal, "calendar.feed.rotated", f"user/{principal.user_id}", {"version": version})
    base = ctx.settings.public_base_url.rstrip("/")
    return CalendarFeed(url=f"{base}/api/calendar/{feed_token(key, principal.user_id, version)}")


# --- the feed ----------------------------------------------------------------------------
def _ics(ctx: AppContext, rows: list[dict[str, Any]], stamp: datetime) -> bytes:
    base = ctx.settings.public_base_url.rstrip("/")
    cal = Calendar()
    cal.add("prodid", "-//Lectern//Live classes//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "Lectern live classes")
    for row in rows:
        event = Event()
        # The class id never changes, so a calendar app updates an event instead of adding one.
        event.add("uid", f"{row['id']}@lectern")
        event.add("dtstamp", stamp)
        event.add("dtstart", row["scheduled_at"].astimezone(UTC))
        event.add("dtend", row["scheduled_at"].astimezone(UTC) + CLASS_LENGTH)
        event.add("summary", f"{row['course_title']}: {row['title']}")
        event.add("url", f"{base}/api/live/app?classId={row['id']}")
        cal.add_component(event)
    ical: bytes = cal.to_ical()
    return ical


async def feed(ctx: AppContext, token: str) -> bytes:
    """The iCalendar text of the feed a token names; 404 for a forged or replaced token."""
    gone = NotFound("No such calendar feed.")
    found = read_token(ctx.settings.calendar_feed_signing_key, token)
    if found is None:
        raise gone
    user_id, version = found
    async with ctx.db.connection() as conn:
        current = await feeds_sql.current_version(conn, user_id)
    if current != version:
        raise gone
    owner = await stored_principal(ctx, user_id)
    if owner is None:
        raise gone
    now = _now()
    async with ctx.db.connection() as conn:
        rows = await classes_sql.calendar_of(
            conn, user_id, as_owner=owner.has_role("tutor"), start=now - FEED_PAST, end=now + FEED_AHEAD, after=None,
            limit=FEED_MAX_EVENTS,
        )
    return _ics(ctx, rows, now)
