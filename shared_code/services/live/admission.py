"""Connection caps: how many connections one user and one class may hold.

One account must not use up a Web PubSub unit, so `connect` counts every connection
against the user's cap in the class and the class's own (a user's personal connections
outside any class have the same per-user cap). A connection whose `disconnected` was lost
would count for ever; a refused connect therefore asks Web PubSub which admitted
connections still exist and forgets the rest (a heal), at most once per `HEAL_HOLD_MS` for a
full class. The same lost event would keep its user present: a heal's connections leave the
presence too, and when one of a user's connections leaves while the user still looks
present, their older ones are checked the same way (`forget_lost_tabs`); a timer sweeps
every live class for the rest (`presence_sweep.py`). Without Redis the
connection is let in uncounted: the class matters more than the cap.

A connect that carries a valid join ticket (`connection_state.py`) is admitted by
`admit_ticketed` without PostgreSQL: the ticket names the course and role negotiate found,
and what could have been revoked since is read where each revocation is recorded, all at
once: the stored account (erasure, role changes), the course's cached row and the user's
cached membership (a takedown replaces the course's generation, a refund or unenrolment
writes the membership `0`), and one script in the class's slot that checks the class's
status (ended) and moderation (removed), counts the caps and makes the member present.
Anything it cannot confirm from those answers (a cold cache, a role that no longer
matches, a refusal) is left to the full check, after the script's count and join are
undone, so every refusal keeps its status and words.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from shared_code.adapters.redis import live_admission as admission_redis
from shared_code.adapters.redis import live_presence as presence_redis
from shared_code.adapters.redis.live_admission import TicketedJoin
from shared_code.adapters.redis.live_presence import Join
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import NotFound
from shared_code.platform import access, content_cache, users
from shared_code.services.live import messages as live_messages
from shared_code.services.live import presence
from shared_code.services.live.class_access import Member, class_role
from shared_code.services.live.connection_state import Ticket

logger = logging.getLogger("lectern.live")

HEAL_CHECKS = 50  # admitted connections asked about per heal
HEAL_HOLD_MS = 10_000  # at most one heal of a full class in this long
# A connection admitted this recently has surely not lost its `disconnected` yet; asking
# about it only costs REST calls (and would let a burst of connects skip the cap).
HEAL_MIN_AGE_MS = 60_000


async def gone_from_service(ctx: AppContext, connection_ids: list[str]) -> list[str]:
    """The connections Web PubSub no longer has: their `disconnected` was lost."""
    gone: list[str] = []
    for connection_id in connection_ids:
        try:
            if not await ctx.pubsub.connection_exists(connection_id):
                gone.append(connection_id)
        except Exception as exc:  # noqa: BLE001 - unknown counts as still there
            logger.warning("connection check failed: %s", type(exc).__name__)
            break
    return gone


async def _heal(ctx: AppContext, member: Member, refused_by: str) -> bool:
    """Forgets admitted connections that Web PubSub no longer has; True when any went.

    Only on a refused connect, and for a full class at most once per HEAL_HOLD_MS, so the
    REST calls stay few whatever the number of refused connects.
    """
    if refused_by == "user":
        return bool(await _forget_lost(ctx, member.class_id, member.user_id, exclude=member.connection_id))
    if not await admission_redis.claim_admission_heal(ctx.redis, member.class_id, HEAL_HOLD_MS):
        return False
    return bool(await _forget_lost(ctx, member.class_id, None, exclude=member.connection_id))


async def _forget_lost(ctx: AppContext, class_id: str, user_id: str | None, *, exclude: str) -> list[str]:
    """The class's (or the user's) connections admitted at least HEAL_MIN_AGE_MS ago that
    Web PubSub no longer has: they stop counting against the caps and leave the presence."""
    before = live_messages.now_ms() - HEAL_MIN_AGE_MS
    candidates = await admission_redis.admitted_before(ctx.redis, class_id, user_id, before, HEAL_CHECKS)
    gone = await gone_from_service(ctx, [c for c in candidates if c != exclude])
    await admission_redis.release(ctx.redis, class_id, user_id, gone)
    await presence.forget_lost(ctx, class_id, gone)
    return gone


async def forget_lost_tabs(ctx: AppContext, member: Member) -> None:
    """After one of a user's connections left while the user still looks present: their
    other connections that Web PubSub no longer has leave too. Without this, one connection
    whose `disconnected` never came would keep the user present until the class ends. Only
    users with several connections pay for it (a REST call per older one)."""
    try:
        await _forget_lost(ctx, member.class_id, member.user_id, exclude=member.connection_id)
    except RedisError as exc:
        logger.warning("lost connections not checked, Redis unavailable: %s", type(exc).__name__)


async def admit(ctx: AppContext, member: Member) -> str | None:
    """Counts the connection against the per-user and per-class caps; why it is refused (a
    429), or None.

    Without Redis the connection is let in uncounted: the class matters more than the cap.
    """
    settings = ctx.settings
    try:
        # Up to two heals: the user's cap, then the class's, may each be stale.
        for attempt in range(3):
            result = await admission_redis.admit(
                ctx.redis, member.class_id, member.user_id, member.connection_id,
                per_user=settings.live_max_connections_per_user, per_class=settings.live_max_connections_per_class,
                now_ms=live_messages.now_ms(),
            )
            if result.admitted or attempt == 2 or not await _heal(ctx, member, result.refused_by):
                break
    except RedisError as exc:
        logger.warning("connection caps not applied, Redis unavailable: %s", type(exc).__name__)
        return None
    if result.admitted:
        return None
    logger.info("connect refused by the %s cap", result.refused_by,
                extra={"classId": member.class_id, "userId": member.user_id, "count": result.count})
    if result.refused_by == "user":
        return (f"You already have {settings.live_max_connections_per_user} connections to this class; "
                "close one (another tab or device) before opening another.")
    return f"This class is full: it already has {settings.live_max_connections_per_class} connections."


def _still_holds(ticket: Ticket, principal: Principal | None, course: dict[str, Any] | None, enrolled: bool) -> bool:
    """Whether the stored account and the course's cached row and membership still give the
    relation the ticket names (the checks `class_access.require_member` and `events.connect`
    make, from the same answers)."""
    if principal is None or course is None:
        return False
    try:
        found = access.decide(principal, course, enrolled)
    except NotFound:
        return False
    if found.frozen or not found.is_member or class_role(found.relation) != ticket.role:
        return False
    return ticket.role != "student" or principal.has_role("student")


@dataclass(frozen=True)
class Ticketed:
    """A member a ticket admitted, already counted and present (`presence.admitted` finishes)."""

    member: Member
    join: Join
    claimed: bool


async def admit_ticketed(ctx: AppContext, connection_id: str, ticket: Ticket) -> Ticketed | None:
    """The member the ticket admits, counted against the caps and present; None when it must
    be checked in full (see the module's docstring), with nothing counted."""
    settings = ctx.settings
    counted = admission_redis.admit_ticketed(
        ctx.content_cache.reads, ticket.class_id, ticket.course_id, ticket.user_id, connection_id, name=ticket.name,
        check_removal=ticket.role == "student", per_user=settings.live_max_connections_per_user,
        per_class=settings.live_max_connections_per_class, now_ms=live_messages.now_ms(),
        hold_ms=live_messages.hold_ms(ctx),
    )
    answers = await asyncio.gather(
        users.stored_principal(ctx, ticket.user_id),
        content_cache.course_view(ctx, ticket.course_id, ticket.user_id, lambda _: ticket.role == "student"),
        counted,
        return_exceptions=True,
    )
    principal, view, result = answers
    if not isinstance(result, TicketedJoin) or result.join is None:
        return None
    if not isinstance(principal, BaseException) and not isinstance(view, BaseException):
        course, enrolled = view
        if _still_holds(ticket, principal, course, enrolled):
            assert principal is not None
            member = Member(
                connection_id=connection_id, user_id=ticket.user_id, class_id=ticket.class_id,
                course_id=ticket.course_id, role=ticket.role, name=principal.name,
            )
            return Ticketed(member, result.join, result.claimed)
    await _undo(ctx, ticket, connection_id, result)
    return None


async def _undo(ctx: AppContext, ticket: Ticket, connection_id: str, counted: TicketedJoin) -> None:
    """A ticket the checks did not confirm: the connection leaves the caps and the presence
    its one call entered, before the full check decides (and counts it again if it passes)."""
    if counted.claimed:
        # The pending flag is set: the broadcast it stands for must run, or it blocks the next.
        ctx.throttles.presence.claimed(ctx, ticket.class_id, live_messages.interval_seconds(ctx))
    try:
        await admission_redis.release(ctx.redis, ticket.class_id, ticket.user_id, [connection_id])
        if counted.join is not None and counted.join.added:
            await presence_redis.leave(ctx.redis, ticket.class_id, connection_id)
    except RedisError:
        pass  # the full check counts it again, and the lease ends a stale count


async def admit_personal(ctx: AppContext, user_id: str, connection_id: str) -> str | None:
    """The per-user cap for connections outside any class. They carry no state, so nothing
    releases them on `disconnected`: a refused connect asks Web PubSub which of the user's
    admitted ones still exist (a handful of calls, only when refused) and forgets the rest."""
    cap = ctx.settings.live_max_connections_per_user
    try:
        for attempt in range(2):
            result = await admission_redis.admit_personal(
                ctx.redis, user_id, connection_id, cap=cap, now_ms=live_messages.now_ms()
            )
            if result.admitted or attempt:
                break
            mine = [c for c in await admission_redis.personal_admitted(ctx.redis, user_id) if c != connection_id]
            gone = await gone_from_service(ctx, mine)
            if not gone:
                break
            await admission_redis.release_personal(ctx.redis, user_id, gone)
    except RedisError as exc:
        logger.warning("connection cap not applied, Redis unavailable: %s", type(exc).__name__)
        return None
    if result.admitted:
        return None
    logger.info("personal connect refused by the user cap", extra={"userId": user_id, "count": result.count})
    return f"You already have {cap} connections open; close one (another tab or device) before opening another."


async def release(ctx: AppContext, member: Member) -> None:
    """The connection is gone: it no longer counts against the caps."""
    try:
        await admission_redis.release(ctx.redis, member.class_id, member.user_id, [member.connection_id])
    except RedisError as exc:
        logger.warning("connection not released from the caps, Redis unavailable: %s", type(exc).__name__)
