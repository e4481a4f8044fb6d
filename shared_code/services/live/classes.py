"""The life of a live class: scheduled → live → ended, and the door in (negotiate).

Starting and ending are the owning tutor's. Ending closes the open poll (with its exact
final counts), lowers every hand, stops the screen share, sends `class.ended` as the last
message, and only then takes the connections out of the class group: nobody is cut off
mid-sentence, and their page closes itself on `class.ended`. Ending a class that has not
started before its time calls it off: its enrolled students get a `class.cancelled`
notification.

Negotiate hands out a Web PubSub client URL whose token grants nothing: no roles (so no
direct group joins or sends) and no initial groups. The class id rides in the URL's query
with a join ticket (`connection_state.py`) naming what negotiate checked, so the connect
event needs no PostgreSQL read; it checks in Redis that nothing was revoked since and
puts the connection in its class's groups.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from redis.exceptions import RedisError

from shared_code.adapters.postgres import classes as classes_sql
from shared_code.adapters.postgres.classes import ClassRow
from shared_code.adapters.redis import live as live_redis
from shared_code.adapters.redis import live_admission as admission_redis
from shared_code.adapters.redis.live_admission import JoinFacts
from shared_code.auth import Principal
from shared_code.concurrency import quiet
from shared_code.context import AppContext
from shared_code.domain import notifications as texts
from shared_code.errors import FieldError, Forbidden, Invalid, NotFound, ValidationFailed
from shared_code.models.live import ClassCreate, ClassListQuery, ClassPage, ClassUpdate, LiveClass, Negotiated
from shared_code.pagination import decode_cursor, encode_cursor
from shared_code.platform import access, audit, content_cache
from shared_code.platform.access import CourseAccess
from shared_code.platform.content_cache import CoursePrefetch
from shared_code.platform.users import ensure_user
from shared_code.services.live import class_access, hands, polls, stage
from shared_code.services.live import messages as live_messages
from shared_code.services.live.class_access import ClassAccess
from shared_code.services.live.connection_state import TICKET_SECONDS, Ticket, encode_ticket, state_key
from shared_code.services.notifications import delivery as notify

logger = logging.getLogger("lectern.live")


def class_from_row(row: ClassRow) -> LiveClass:
    return LiveClass.model_validate(row)  # same field names: the model reads the row's attributes


async def create_class(
    ctx: AppContext, principal: Principal, body: ClassCreate, *, course: CourseAccess | None = None
) -> LiveClass:
    """`course` is the access the endpoint's relation found for `body.course_id` (a manager's)."""
    course = course or await access.require_editor(ctx, principal, str(body.course_id))
    await ensure_user(ctx, principal)
    async with ctx.db.connection() as conn:
        # The class's tutor is the course's owner, also when an admin schedules it.
        row = await classes_sql.insert_class(
            conn, str(uuid.uuid4()), course.course_id, course.owner_id, body.title, body.scheduled_at
        )
    try:
        await live_redis.init_class(ctx.redis, str(row.id), class_access.meta_fields(row))
    except RedisError as exc:
        logger.warning("class created without its Redis state (filled on first use): %s", type(exc).__name__)
    return class_from_row(row)


async def get_class(
    ctx: AppContext, principal: Principal, class_id: str, *, found: ClassAccess | None = None
) -> LiveClass:
    found = found or await class_access.require_member(ctx, principal, class_id)
    return class_from_row(found.row)


async def list_classes(
    ctx: AppContext, principal: Principal, q: ClassListQuery, *, course: CourseAccess | None = None
) -> ClassPage:
    """`course` is the access the endpoint's relation found for `q.course_id` (a member's)."""
    if course is None:
        await access.require_member(ctx, principal, str(q.course_id))
    cursor = decode_cursor(q.cursor)
    after = None
    if cursor is not None:
        try:
            after = (datetime.fromisoformat(cursor["at"]), str(uuid.UUID(cursor["id"])))
        except (KeyError, TypeError, ValueError):
            raise ValidationFailed(errors=[FieldError("cursor", "not a cursor this API issued")]) from None
    async with ctx.db.connection() as conn:
        rows = await classes_sql.list_for_course(conn, str(q.course_id), q.limit + 1, after)
    items = [class_from_row(r) for r in rows[: q.limit]]
    next_cursor = None
    if len(rows) > q.limit and items:
        last = items[-1]
        next_cursor = encode_cursor({"at": last.scheduled_at.isoformat(), "id": str(last.id)})
    return ClassPage(items=items, next_cursor=next_cursor)


async def update_class(
    ctx: AppContext, principal: Principal, class_id: str, body: ClassUpdate, *, found: ClassAccess | None = None
) -> LiveClass:
    """Renames or reschedules a class that has not started (its tutor or an admin): 422 once
    it is live or ended, whose time is history. The reminder timer and the calendar read
    the new time from the row; the class's hot state keeps the title its messages carry.
    Audited with the fields before and after."""
    found = found or await class_access.require_manager(ctx, principal, class_id)
    async with ctx.db.connection() as conn:
        row = await classes_sql.update_scheduled(conn, class_id, body.title, body.scheduled_at)
    if row is None:
        raise Invalid(
            "Only a scheduled class can be renamed or rescheduled; this one has started or ended.",
            errors=[FieldError("classId", "the class is not scheduled any more")],
        )
    try:
        await live_redis.set_title(ctx.redis, class_id, row.title)
    except RedisError as exc:
        # The meta is filled from the row on a miss; a stale title only words a message.
        logger.warning("class meta not updated, Redis unavailable: %s", type(exc).__name__)
    before, after = found.row, row
    await audit.record(
        ctx, principal, "class.updated", f"class/{class_id}",
        {"courseId": str(row.course_id),
         "before": {"title": before.title, "scheduledAt": before.scheduled_at.isoformat()},
         "after": {"title": after.title, "scheduledAt": after.scheduled_at.isoformat()}},
    )
    return class_from_row(row)


async def _announce_status(ctx: AppContext, class_id: str, status: str, message_type: str, row: ClassRow) -> None:
    at = live_messages.now_ms()
    try:
        seq = await live_redis.set_status(ctx.redis, class_id, status, at)
    except RedisError as exc:
        logger.warning("%s not sent, no seq: %s", message_type, type(exc).__name__)
        return
    await live_messages.to_class(
        ctx, class_id,
        live_messages.envelope(message_type, class_id, seq, at, status=status, title=row.title),
    )


async def start_class(
    ctx: AppContext, principal: Principal, class_id: str, *, found: ClassAccess | None = None
) -> LiveClass:
    found = found or await class_access.require_owner(ctx, principal, class_id)
    async with ctx.db.connection() as conn:
        row = await classes_sql.change_status(conn, class_id, ["scheduled"], "live")
    if row is None:
        if found.status == "live":
            return class_from_row(found.row)  # started already: starting again changes nothing
        raise Invalid("The class has ended; schedule a new one.")
    await _announce_status(ctx, class_id, "live", "class.started", row)
    return class_from_row(row)


async def end_class(
    ctx: AppContext, principal: Principal, class_id: str, *, found: ClassAccess | None = None
) -> LiveClass:
    found = found or await class_access.require_owner(ctx, principal, class_id)
    row = await _end(ctx, class_id, ["scheduled", "live"], by=principal.user_id)
    return class_from_row(row if row is not None else found.row)  # ended already: nothing changes


async def end_idle_class(ctx: AppContext, class_id: str) -> bool:
    """Ends a running class on its tutor's behalf (the presence sweep, once nobody has been
    in it for `live_idle_end_minutes`): what End does, for a tutor who closed the tab
    instead. False when it was no longer running."""
    row = await _end(ctx, class_id, ["live"], by=None)
    if row is not None:
        logger.info("class ended after standing empty", extra={"classId": class_id})
    return row is not None


async def _end(ctx: AppContext, class_id: str, from_states: list[str], *, by: str | None) -> ClassRow | None:
    """Moves the class to ended and tells everyone; None when it was not in `from_states`.
    `by` is who ended it (None: the sweep, on the tutor's behalf)."""
    async with ctx.db.connection() as conn:
        row = await classes_sql.change_status(conn, class_id, from_states, "ended")
    if row is None:
        return None
    by = by or str(row.tutor_id)
    now = datetime.now(UTC)
    if row.started_at is None and row.scheduled_at > now:
        # Called off before its time: the students who planned for it are told (a class
        # long past its time that never started is only tidied away, and tells nobody).
        notice = texts.class_cancelled(class_id, str(row.course_id), row.title, row.scheduled_at, now)
        await notify.notify_enrolled(ctx, str(row.course_id), notice, tutor_id=str(row.tutor_id))
    await polls.close_open_poll(ctx, class_id)
    try:
        await hands.lower_all(ctx, class_id, by=by)
        await stage.stop_share(ctx, class_id, by=by)
    except RedisError as exc:
        logger.warning("hands and screen share not cleared at the end: %s", type(exc).__name__)
    await _announce_status(ctx, class_id, "ended", "class.ended", row)
    ctx.background.spawn(_release_connections(ctx, class_id))
    return row


async def _release_connections(ctx: AppContext, class_id: str) -> None:
    """Takes every connection out of the class group once `class.ended` went out: one call
    to the service, however big the class."""
    try:
        await ctx.pubsub.empty_group(live_messages.class_group(class_id))
        await live_redis.expire_class(ctx.redis, class_id)
    except Exception:  # noqa: BLE001 - best effort once the class has ended: logged, the end stands either way
        logger.exception("releasing the connections of ended class %s failed", class_id)


async def negotiate_personal(ctx: AppContext, principal: Principal) -> Negotiated:
    """A client URL for the caller's own pushes outside any class (see live_events.connect_personal)."""
    await ensure_user(ctx, principal)
    url, expires_at = await ctx.pubsub.client_url(user_id=principal.user_id, groups=[], roles=[])
    separator = "&" if "?" in url else "?"
    return Negotiated(url=f"{url}{separator}scope=personal", user_id=principal.user_id, expires_at=expires_at)


@dataclass(frozen=True)
class Joinable:
    """A class as negotiate needs it (its course, status and the caller's relation), read
    from the class's Redis meta rather than its row: the same facts `ClassAccess` gives."""

    class_id: str
    course_id: str
    status: str
    course: CourseAccess

    @property
    def role(self) -> str:
        return class_access.class_role(self.course.relation)


@dataclass(frozen=True)
class JoinPrefetch:
    """`require_joinable`'s reads, sent beside the caller's own checks: the class's hot state,
    and its course's cache entries once this process knows the class's course."""

    facts: asyncio.Future[Any]
    course: CoursePrefetch | None


CLASS_COURSE_MEMORY = 100_000


def prefetch_joinable(ctx: AppContext, class_id: str, user_id: str) -> JoinPrefetch | None:
    """The endpoint's relation prefetch: it only reads, and it is judged only after the
    caller passed."""
    try:
        uuid.UUID(class_id)
    except ValueError:
        return None  # the route's id is checked (404) where it is judged
    facts = quiet(admission_redis.start_join_facts(ctx.content_cache.reads, class_id, user_id))
    course_id = ctx.content_cache.class_course.get(class_id)
    return JoinPrefetch(facts, content_cache.prefetch_course(ctx, course_id, user_id) if course_id else None)


async def require_joinable(
    ctx: AppContext, principal: Principal, class_id: str, *, prefetched: JoinPrefetch | None = None
) -> Joinable:
    """`class_access.require_member` (the same answers and refusals) for negotiate, from the
    class's hot state (its status, course and the caller's moderation flags in one round
    trip, PostgreSQL on a miss) and the course cache: a thousand joins read no class row.
    `prefetched` holds those reads when the endpoint sent them beside the caller's checks."""
    try:
        facts = await admission_redis.join_facts(
            ctx.content_cache.reads, class_id, principal.user_id, pending=prefetched.facts if prefetched else None
        )
    except (RedisError, OSError):
        facts = JoinFacts("", "", None)  # each read below falls back to PostgreSQL
    status, course_id = facts.status, facts.course_id
    if not (status and course_id):
        meta = await class_access.class_meta(ctx, class_id)
        status, course_id = meta.status, meta.course_id
    memory = ctx.content_cache.class_course
    if course_id and memory.get(class_id) != course_id:
        if len(memory) >= CLASS_COURSE_MEMORY:
            memory.clear()  # bounded; the mapping is relearnt on the next negotiate
        memory[class_id] = course_id
    try:
        course = await access.course_access(
            ctx, principal, course_id, prefetched=prefetched.course if prefetched else None
        )
    except NotFound:
        raise NotFound("No such class.") from None
    if not course.is_member:
        raise Forbidden(access.MEMBERS_ONLY)
    if not course.can_manage:
        flags = facts.flags
        if flags is None:
            flags = await class_access.moderation_flags(ctx, class_id, principal.user_id)
        if "b" in flags:
            raise Forbidden("You were removed from this class.")
    return Joinable(class_id=class_id, course_id=course_id, status=status, course=course)


async def negotiate(
    ctx: AppContext, principal: Principal, class_id: str, *, found: ClassAccess | Joinable | None = None
) -> Negotiated:
    found = found or await require_joinable(ctx, principal, class_id)
    access.require_deliverable(found.course)
    if found.status == "ended":
        raise Invalid("The class has ended.")
    if found.role == "student" and not principal.has_role("student"):
        raise Forbidden("Only students enrolled in this course, its tutor and admins may join.")
    await ensure_user(ctx, principal)
    url, expires_at = await ctx.pubsub.client_url(user_id=principal.user_id, groups=[], roles=[])
    ticket = Ticket(
        user_id=principal.user_id, class_id=found.class_id, course_id=found.course_id, role=found.role,
        expires_ms=live_messages.now_ms() + TICKET_SECONDS * 1000, name=principal.name,
    )
    signed = encode_ticket(ticket, state_key(ctx.settings))
    separator = "&" if "?" in url else "?"
    return Negotiated(
        url=f"{url}{separator}classId={quote(class_id)}&ticket={quote(signed)}", user_id=principal.user_id,
        expires_at=expires_at,
    )
