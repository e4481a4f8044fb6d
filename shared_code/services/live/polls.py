"""Polls in a live class: opened by the tutor, voted on by students, closed with exact counts.

A vote is counted in Redis by one Lua script (the voter's choice and the option counts
change together, so a changed vote moves rather than adds; the same call applies the rate
limit and claims the tally broadcast, and its answer words every refusal) and written
straight to `poll_votes` (the votes of a poll that arrive together in one statement,
`ctx.vote_writes`) with a version from Redis' clock, so a late write of an older vote never
overwrites a newer one. While votes pour in, `poll.tally` goes out at most a few times a
second per class (the same throttle as presence).

Closing freezes the poll in Redis (later votes are refused there), then closes it in
PostgreSQL, where the close waits for every vote already being written and refuses every
later one (`adapters/postgres/polls.py`), and computes the final counts from the stored
votes. `poll.closed` carries those counts, so they are exactly the votes that were kept.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import psycopg
from redis.exceptions import RedisError

from shared_code.adapters.postgres import polls as polls_sql
from shared_code.adapters.postgres.polls import PollRow, Vote
from shared_code.adapters.postgres.pool import Conn, Database
from shared_code.adapters.postgres.rows import values
from shared_code.adapters.redis import live_polls as polls_redis
from shared_code.auth import Principal
from shared_code.circuit import CircuitOpen
from shared_code.context import AppContext
from shared_code.domain.polls import counts_list, final_counts, tally_counts
from shared_code.domain.ratelimit import emission_interval_ms
from shared_code.errors import Conflict, Invalid, NotFound
from shared_code.models.live import Poll, PollCreate, VoteEvent
from shared_code.services.live import class_access
from shared_code.services.live import messages as live_messages
from shared_code.services.live.class_access import ClassAccess, Member
from shared_code.services.live.messages import Refused, Throttle

logger = logging.getLogger("lectern.live")

RATE_PERIOD_MS = 10_000


def poll_from_row(row: PollRow, counts: list[int], my_vote: int | None = None) -> Poll:
    """The wire poll: the row's fields by name (the stored final counts are `counts` here)."""
    return Poll.model_validate({**values(row), "counts": counts, "total": sum(counts), "my_vote": my_vote})


def poll_message(poll: Poll) -> dict[str, Any]:
    return {
        "id": str(poll.id), "question": poll.question, "options": poll.options, "status": poll.status,
        "openedAt": poll.opened_at.isoformat(), "counts": poll.counts, "total": poll.total,
    }


# --- tally broadcasts ---------------------------------------------------------------------
async def _flush(ctx: AppContext, class_id: str) -> None:
    at = live_messages.now_ms()
    tally = await polls_redis.flush_tally(ctx.redis, class_id, at)
    if tally is None:
        return  # closed meanwhile: poll.closed has the final word
    seq, poll_id, counts = tally
    await live_messages.to_class_now(
        ctx, class_id,
        live_messages.envelope("poll.tally", class_id, seq, at, pollId=poll_id, counts=counts, total=sum(counts)),
    )


def tally_throttle() -> Throttle:
    """This module's broadcast throttle; the bootstrap builds one per process (`ctx.throttles`)."""
    return Throttle("tally", live_messages.pending_flag("tally"), _flush)


# --- opening ------------------------------------------------------------------------------
async def open_poll(
    ctx: AppContext, principal: Principal, class_id: str, body: PollCreate, *, found: ClassAccess | None = None
) -> Poll:
    found = found or await class_access.require_owner(ctx, principal, class_id)
    if found.status != "live":
        raise Invalid("Polls open only while the class is live.")
    poll_id = str(uuid.uuid4())
    try:
        async with ctx.db.connection() as conn:
            row = await polls_sql.insert_poll(conn, poll_id, class_id, body.question, body.options)
    except psycopg.errors.UniqueViolation:
        raise Conflict("This class already has an open poll; close it first.") from None
    poll = poll_from_row(row, [0] * len(body.options))
    at = live_messages.now_ms()
    seq = await polls_redis.open_poll(
        ctx.redis, class_id, poll_id=poll_id, question=body.question, options=body.options,
        opened_at=poll.opened_at.isoformat(), now_ms=at,
    )
    await live_messages.to_class(
        ctx, class_id, live_messages.envelope("poll.opened", class_id, seq, at, poll=poll_message(poll))
    )
    return poll


# --- voting -------------------------------------------------------------------------------
async def _restore(ctx: AppContext, class_id: str, poll_id: str) -> None:
    """Puts the poll back into Redis from PostgreSQL after Redis lost it."""
    async with ctx.db.connection() as conn:
        row = await polls_sql.get_poll(conn, class_id, poll_id)
        if row is None:
            raise Refused("no-such-poll", "This class has no such poll.")
        votes = await polls_sql.votes(conn, poll_id) if row.status == "open" else {}
    if row.status != "open":
        raise Refused("poll-closed", "The poll is closed.")
    await restore_open(ctx, class_id, row, votes)


async def restore_open(ctx: AppContext, class_id: str, row: PollRow, votes: dict[str, int]) -> bool:
    """Puts an open poll and its stored votes back into Redis (which lost them); False when
    Redis already holds a poll (`adapters/redis/live_polls.py` `restore_poll`)."""
    return await polls_redis.restore_poll(
        ctx.redis, class_id, poll_id=str(row.id), status="open", question=row.question,
        options=list(row.options), opened_at=row.opened_at.isoformat(), votes=votes,
    )


async def write_votes(db: Database, votes: list[Vote]) -> list[bool | Exception]:
    """What `ctx.vote_writes` sends: the votes that arrived together, one statement per poll
    (`adapters/postgres/polls.py` `record_votes`), each answered with whether its poll was
    open; a poll whose statement failed answers its own votes with the error."""
    by_poll: dict[str, list[Vote]] = {}
    for vote in votes:
        by_poll.setdefault(vote.poll_id, []).append(vote)

    async def write(poll_id: str, group: list[Vote]) -> bool:
        async with db.connection() as conn:
            return await polls_sql.record_votes(conn, poll_id, group)

    outcomes = await asyncio.gather(*(write(p, g) for p, g in by_poll.items()), return_exceptions=True)
    answers: dict[str, bool | Exception] = {}
    for poll_id, outcome in zip(by_poll, outcomes, strict=True):
        if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
            raise outcome
        answers[poll_id] = outcome
    return [answers[vote.poll_id] for vote in votes]


# What a vote script's refusal says, by its code.
_REFUSALS = {
    "closed": ("poll-closed", "The poll is closed."),
    "option": ("invalid-option", "The poll has no such option."),
    "none": ("no-such-poll", "This class has no such poll."),
}


async def _count(ctx: AppContext, member: Member, poll_id: str, option: int) -> polls_redis.VoteResult:
    return await ctx.poll_store.vote(
        member.class_id, poll_id, member.user_id, option,
        rate_interval_ms=emission_interval_ms(ctx.settings.rate_limit_votes_per_10s, RATE_PERIOD_MS),
        rate_limit=ctx.settings.rate_limit_votes_per_10s, hold_ms=live_messages.hold_ms(ctx),
    )


async def vote(ctx: AppContext, member: Member, event: VoteEvent) -> dict[str, Any]:
    """One Redis call decides the rate limit, the poll's state, the vote and the tally
    (`adapters/redis/live_polls.py` `PollStore.vote`); a refusal is worded from what it returned."""
    poll_id = str(event.poll_id)
    result = await _count(ctx, member, poll_id, event.option)
    if result.code == "cold":
        await _restore(ctx, member.class_id, poll_id)
        result = await _count(ctx, member, poll_id, event.option)
    if result.code == "rate":
        raise Refused("rate-limited", "Too many votes; wait a moment.", retry_after_ms=result.retry_after_ms, seq=result.seq)
    if result.code != "ok":
        reason, detail = _REFUSALS.get(result.code, _REFUSALS["none"])
        raise Refused(reason, detail, seq=result.seq)
    if result.claimed:
        # Scheduled whatever PostgreSQL says next: the flag is claimed, and the flush clears it.
        ctx.throttles.tally.claimed(ctx, member.class_id, live_messages.interval_seconds(ctx))
    try:
        stored = await ctx.vote_writes.submit(Vote(poll_id, member.user_id, event.option, result.version))
    except (psycopg.Error, OSError, CircuitOpen) as exc:
        logger.warning("vote not stored: %s", type(exc).__name__)
        raise Refused("unavailable", "The vote could not be stored; vote again.", seq=result.seq) from None
    if not stored:
        raise Refused("poll-closed", "The poll is closed.", seq=result.seq)
    return {"seq": result.seq, "pollId": poll_id, "option": event.option}


# --- closing ------------------------------------------------------------------------------
async def _close(ctx: AppContext, class_id: str, poll_id: str) -> tuple[Poll, bool]:
    """Closes the poll (idempotent); returns it and whether this call closed it."""
    try:
        await polls_redis.freeze_poll(ctx.redis, class_id, poll_id)
    except RedisError as exc:
        # PostgreSQL refuses late votes on its own; Redis only refuses them sooner.
        logger.warning("poll frozen in PostgreSQL only: %s", type(exc).__name__)
    async with ctx.db.transaction() as conn:
        row = await polls_sql.close_poll(conn, poll_id)
    closed_now = row is not None
    if row is None:
        async with ctx.db.connection() as conn:
            row = await polls_sql.get_poll(conn, class_id, poll_id)
        assert row is not None
    counts = final_counts(len(row.options), row.final_counts)
    poll = poll_from_row(row, counts)
    if closed_now:
        at = live_messages.now_ms()
        try:
            seq = await polls_redis.poll_closed(ctx.redis, class_id, poll_id, counts, at)
        except RedisError as exc:
            logger.warning("poll.closed not sent, no seq: %s", type(exc).__name__)
        else:
            await live_messages.to_class(
                ctx, class_id,
                live_messages.envelope(
                    "poll.closed", class_id, seq, at, pollId=poll_id, counts=counts, total=sum(counts),
                    poll=poll_message(poll),
                ),
            )
    return poll, closed_now


async def close_poll(
    ctx: AppContext, principal: Principal, class_id: str, poll_id: str, *, found: ClassAccess | None = None
) -> Poll:
    if found is None:
        await class_access.require_owner(ctx, principal, class_id)
    async with ctx.db.connection() as conn:
        await _stored(conn, class_id, poll_id)
    poll, _ = await _close(ctx, class_id, poll_id)
    return poll


async def close_open_poll(ctx: AppContext, class_id: str) -> Poll | None:
    """Closes whatever poll is open (the class is ending)."""
    async with ctx.db.connection() as conn:
        row = await polls_sql.open_poll_of_class(conn, class_id)
    if row is None:
        return None
    poll, _ = await _close(ctx, class_id, str(row.id))
    return poll


# --- reading ------------------------------------------------------------------------------
async def _stored(conn: Conn, class_id: str, poll_id: str) -> PollRow:
    """The class's poll; 404 when the class has no such poll."""
    row = await polls_sql.get_poll(conn, class_id, poll_id)
    if row is None:
        raise NotFound("This class has no such poll.")
    return row


async def current_counts(ctx: AppContext, class_id: str, row: PollRow) -> list[int]:
    """Live counts of an open poll from Redis, or from the stored votes when Redis cannot say."""
    options = len(row.options)
    if row.status == "closed":
        return final_counts(options, row.final_counts)
    try:
        poll, counts = await polls_redis.read_poll(ctx.redis, class_id)
        if poll.get("id") == str(row.id):
            return counts_list(options, counts)
    except RedisError as exc:
        logger.warning("poll counts from PostgreSQL, Redis unavailable: %s", type(exc).__name__)
    async with ctx.db.connection() as conn:
        tally = await polls_sql.counts(conn, str(row.id))
    return tally_counts(options, tally)


async def get_poll(
    ctx: AppContext, principal: Principal, class_id: str, poll_id: str, *, found: ClassAccess | None = None
) -> Poll:
    if found is None:
        await class_access.require_member(ctx, principal, class_id)
    async with ctx.db.connection() as conn:
        row = await _stored(conn, class_id, poll_id)
        mine = await polls_sql.user_vote(conn, poll_id, principal.user_id)
    counts = await current_counts(ctx, class_id, row)
    return poll_from_row(row, counts, mine)


def poll_from_redis(class_id: str, poll: dict[str, str], counts: dict[str, str]) -> Poll | None:
    """The open poll as the state snapshot shows it; None when Redis holds no open poll."""
    if poll.get("status") != "open" or "id" not in poll:
        return None
    options = json.loads(poll.get("optionsJson") or "[]")
    tally = counts_list(len(options), counts)
    return Poll(
        id=poll["id"], class_id=class_id, question=poll.get("question", ""), options=options, status="open",
        opened_at=poll["openedAt"], counts=tally, total=sum(tally),
    )
