"""Round trips per vote, chat message, hand, reaction and heartbeat, counted on the app's
side of the wire.

Each operation goes the whole way a real one goes (the indexed function, the endpoint's
checks, the service, the stores) in this process, against a redis-server this module owns,
so the counts do not depend on the machine's load or on other tests: every write the Redis
client puts on a socket is one round trip (a pipeline is one), and every statement psycopg
sends is one PostgreSQL round trip. The operation is measured warm (scripts loaded, the
account and the content cache filled), as nearly every vote and heartbeat runs. The bounds
are today's counts: a change that adds a round trip to a hot path fails here.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import azure.functions as func
import psycopg
import pytest
from redis.asyncio.connection import AbstractConnection

from shared_code import bootstrap
from shared_code.adapters.postgres import chat as chat_sql
from shared_code.adapters.postgres import polls as polls_sql
from shared_code.adapters.postgres.polls import Vote
from shared_code.adapters.redis import keys
from shared_code.adapters.redis import live as live_redis
from shared_code.auth import Principal, issue_dev_token
from shared_code.context import AppContext
from shared_code.models.content import CourseCreate, CourseUpdate, EnrollmentRequest, LessonCreate, LessonUpdate, VideoCreate
from shared_code.models.live import ChatQuery, ClassCreate, ModerationRequest, PollCreate
from shared_code.models.progress import QuestionCreate, QuizCreate
from shared_code.services.content import courses, enrollments, videos
from shared_code.services.live import chat, classes, moderation, polls
from shared_code.services.live.class_access import Member
from shared_code.services.live.connection_state import encode_state, state_key
from shared_code.services.progress import quizzes
from tests.integration.conftest import person
from tests.support.app_index import lectern_functions

pytestmark = pytest.mark.timeout(120)

# The bounds: the counts of one warm operation (see the module's docstring).
VOTE_REDIS = 1  # one script: rate limit, poll, vote, tally, tally claim, seq
VOTE_POSTGRES = 1  # the vote itself (closing a poll counts the stored votes)
REFUSED_VOTE_REDIS = 1  # the same script words the refusal
REFUSED_VOTE_POSTGRES = 0
CHAT_REDIS = 1  # one script: class status, moderation flags, rate limit, seq, recent-chat entry
CHAT_POSTGRES = 1  # the messages that arrive together share one INSERT
REFUSED_CHAT_REDIS = 1  # the same script words the refusal (muted, rate-limited, class ended)
HAND_REDIS = 1  # one script: class status, rate limit, the hand, seq
REACTION_REDIS = 1  # one script: rate limit, the count, the broadcast claim, seq
HEARTBEAT_REDIS = 2  # write limits, stored roles and the content cache (one pipeline), then the heartbeat script
HEARTBEAT_POSTGRES = 0
LESSON_READ_REDIS = 1  # read limits, stored roles and the lesson's cache entries (one pipeline)
LESSON_READ_POSTGRES = 0
QUIZ_SUBMIT_POSTGRES = 1  # one statement: the attempt, the limit, the best score, the key's answer, the notification
QUIZ_SUBMIT_REDIS = 3  # write limits, stored roles and course membership (one pipeline), leaderboard script, dashboard
QUIZ_EFFECTS_POSTGRES = 1  # after the answer: the parked effects' row goes

_COMMAND = re.compile(rb"\*\d+\r\n\$\d+\r\n([A-Za-z]+)\r\n")


@dataclass
class Wire:
    """Every Redis write and every PostgreSQL statement this process sends."""

    redis_writes: int = 0
    redis_commands: list[str] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.redis_writes = 0
        self.redis_commands.clear()
        self.statements.clear()


@pytest.fixture
def wire(monkeypatch) -> Iterator[Wire]:
    seen = Wire()
    send = AbstractConnection._send_packed_command

    async def counted(self: AbstractConnection, command: Any) -> None:
        seen.redis_writes += 1
        packed = b"".join(part if isinstance(part, bytes) else bytes(part) for part in command)
        seen.redis_commands.extend(name.decode().upper() for name in _COMMAND.findall(packed))
        await send(self, command)

    execute = psycopg.AsyncCursor.execute

    async def statement(self: psycopg.AsyncCursor, query: Any, *args: Any, **kwargs: Any) -> Any:
        seen.statements.append(" ".join(str(query).split())[:80])
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "_send_packed_command", counted)
    monkeypatch.setattr(psycopg.AsyncCursor, "execute", statement)
    yield seen


@pytest.fixture
def app(ctx: AppContext, monkeypatch) -> dict[str, Any]:
    """The indexed functions, running on this test's context."""
    monkeypatch.setattr(bootstrap, "_context", ctx)
    return {f.name: f.user_function for f in lectern_functions()}


async def published_course(ctx: AppContext) -> tuple[Principal, str, str]:
    tutor = person("tutor")
    _, course = await courses.create_course(ctx, tutor, CourseCreate(title="Trips", description="d"), idempotency_key=None)
    course_id = str(course["id"])
    video = await videos.register_video(ctx, tutor, VideoCreate(title="V"))
    _, lesson = await courses.add_lesson(
        ctx, tutor, course_id,
        LessonCreate(title="V", kind="video", video_asset_id=str(video.id), duration_seconds=600),
        idempotency_key=None,
    )
    await courses.update_course(ctx, tutor, course_id, CourseUpdate(published=True))
    return tutor, course_id, str(lesson["id"])


# --- votes --------------------------------------------------------------------------------
def _access_key(ctx: AppContext) -> str:
    text = ctx.settings.webpubsub_connection_string.get_secret_value()
    return next(p.split("=", 1)[1] for p in text.split(";") if p.lower().startswith("accesskey="))


def event_request(ctx: AppContext, member: Member, name: str, data: dict[str, Any]) -> func.HttpRequest:
    signature = hmac.new(_access_key(ctx).encode(), member.connection_id.encode(), hashlib.sha256).hexdigest()
    return func.HttpRequest(
        method="POST", url="http://localhost/api/webpubsub/events",
        headers={
            "ce-type": f"azure.webpubsub.user.{name}", "ce-eventname": name,
            "ce-connectionid": member.connection_id, "ce-userid": member.user_id,
            "ce-signature": f"sha256={signature}",
            "ce-connectionstate": encode_state(member, state_key(ctx.settings)),
            "content-type": "application/json",
        },
        body=json.dumps(data).encode(),
    )


async def send_event(app: dict[str, Any], ctx: AppContext, member: Member, name: str, data: dict[str, Any]) -> dict:
    response = await app["webpubsub_events"](event_request(ctx, member, name, data))
    assert response.status_code == 200, response.get_body()
    return json.loads(response.get_body())


async def started_class(ctx: AppContext, title: str = "Trips") -> tuple[Principal, str, str, Principal]:
    """A started class of a published course, and one enrolled student: (tutor, course id,
    class id, student)."""
    tutor, course_id, _ = await published_course(ctx)
    student = person("student")
    await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())
    created = ClassCreate(course_id=uuid.UUID(course_id), title=title, scheduled_at=datetime.now(UTC))
    live = await classes.create_class(ctx, tutor, created)
    await classes.start_class(ctx, tutor, str(live.id))
    return tutor, course_id, str(live.id), student


async def class_with_poll(ctx: AppContext) -> tuple[Principal, Member, str]:
    tutor, course_id, class_id, student = await started_class(ctx)
    poll = await polls.open_poll(ctx, tutor, class_id, PollCreate(question="Q?", options=["a", "b", "c"]))
    member = Member(connection_id=uuid.uuid4().hex, user_id=student.user_id, class_id=class_id,
                    course_id=course_id, role="student", name=student.name)
    return tutor, member, str(poll.id)


async def test_a_vote_is_one_redis_round_trip_and_one_statement(ctx, app, wire):
    _, member, poll_id = await class_with_poll(ctx)
    assert (await send_event(app, ctx, member, "vote", {"pollId": poll_id, "option": 0}))["ok"]  # warm

    wire.reset()
    ack = await send_event(app, ctx, member, "vote", {"pollId": poll_id, "option": 1})
    assert ack["ok"] and ack["option"] == 1
    assert wire.redis_writes <= VOTE_REDIS, wire.redis_commands
    assert len(wire.statements) <= VOTE_POSTGRES, wire.statements
    await ctx.throttles.tally.drain()  # the tally broadcast this vote scheduled


async def test_a_refused_vote_is_worded_from_its_one_redis_round_trip(ctx, app, wire):
    tutor, member, closed_id = await class_with_poll(ctx)
    await polls.close_poll(ctx, tutor, member.class_id, closed_id)
    poll = await polls.open_poll(ctx, tutor, member.class_id, PollCreate(question="Next?", options=["a", "b"]))
    poll_id = str(poll.id)
    assert (await send_event(app, ctx, member, "vote", {"pollId": poll_id, "option": 0}))["ok"]  # warm

    for data, reason in (
        ({"pollId": poll_id, "option": 7}, "invalid-option"),
        ({"pollId": closed_id, "option": 0}, "poll-closed"),
        ({"pollId": str(uuid.uuid4()), "option": 0}, "no-such-poll"),
    ):
        wire.reset()
        ack = await send_event(app, ctx, member, "vote", data)
        assert not ack["ok"] and ack["reason"] == reason, ack
        assert ack["seq"] > 0  # the class's current seq, from the same call
        assert wire.redis_writes <= REFUSED_VOTE_REDIS, wire.redis_commands
        assert len(wire.statements) <= REFUSED_VOTE_POSTGRES, wire.statements
    await ctx.throttles.tally.drain()


async def test_votes_cast_together_share_one_redis_round_trip_and_one_statement(ctx, app, wire):
    """Under load the vote scripts of concurrent events go out as one pipeline, and their
    votes go to PostgreSQL in one statement."""
    tutor, member, poll_id = await class_with_poll(ctx)
    voters = [member]
    for _ in range(9):
        student = person("student")
        await enrollments.enrol(ctx, student, member.course_id, EnrollmentRequest())
        voters.append(Member(connection_id=uuid.uuid4().hex, user_id=student.user_id, class_id=member.class_id,
                             course_id=member.course_id, role="student", name=student.name))
    assert (await send_event(app, ctx, member, "vote", {"pollId": poll_id, "option": 0}))["ok"]  # warm

    wire.reset()
    acks = await asyncio.gather(*(send_event(app, ctx, v, "vote", {"pollId": poll_id, "option": 1}) for v in voters))
    assert all(a["ok"] for a in acks), acks
    assert wire.redis_writes <= VOTE_REDIS, wire.redis_commands
    assert len(wire.statements) <= VOTE_POSTGRES, wire.statements
    closed = await polls.close_poll(ctx, tutor, member.class_id, poll_id)
    assert closed.counts == [0, 10, 0]  # the final counts are the stored votes: every one, once
    await ctx.throttles.tally.drain()


async def test_a_batch_of_votes_keeps_each_voters_newest_and_writes_nothing_once_closed(ctx):
    tutor, member, poll_id = await class_with_poll(ctx)
    older, newer = Vote(poll_id, member.user_id, 0, 10), Vote(poll_id, member.user_id, 2, 11)
    async with ctx.db.connection() as conn:
        # One statement may not write a row twice: the older vote lost the race anyway.
        assert await polls_sql.record_votes(conn, poll_id, [newer, older])
        assert await polls_sql.user_vote(conn, poll_id, member.user_id) == 2
    await polls.close_poll(ctx, tutor, member.class_id, poll_id)
    async with ctx.db.connection() as conn:
        assert not await polls_sql.record_votes(conn, poll_id, [Vote(poll_id, member.user_id, 1, 12)])
        assert await polls_sql.user_vote(conn, poll_id, member.user_id) == 2


async def test_a_lone_vote_and_a_batch_write_alike(ctx):
    """A lone vote takes the scalar statement, several take the array one: the same rules."""
    _, member, poll_id = await class_with_poll(ctx)
    other = str(uuid.uuid4())
    async with ctx.db.connection() as conn:
        await conn.execute("INSERT INTO users (id, name, roles) VALUES (%s, 'Other', '{student}')", (other,))
        assert await polls_sql.record_votes(conn, poll_id, [Vote(poll_id, member.user_id, 1, 20), Vote(poll_id, other, 2, 3)])
        assert await polls_sql.votes(conn, poll_id) == {member.user_id: 1, other: 2}
        # A lone vote older than the stored one changes nothing; a newer one does.
        assert await polls_sql.record_votes(conn, poll_id, [Vote(poll_id, member.user_id, 0, 19)])
        assert await polls_sql.record_votes(conn, poll_id, [Vote(poll_id, other, 0, 4)])
        assert await polls_sql.votes(conn, poll_id) == {member.user_id: 1, other: 0}
        # Either statement answers "not open" for a poll that does not exist.
        missing = str(uuid.uuid4())
        assert not await polls_sql.record_votes(conn, missing, [Vote(missing, other, 0, 5)])
        assert not await polls_sql.record_votes(conn, missing, [Vote(missing, other, 0, 5), Vote(missing, member.user_id, 0, 5)])


async def test_votes_past_the_rate_are_refused_in_the_same_round_trip(ctx, app, wire):
    """The rate limit moved into the vote script: still a burst of the setting, then refused
    with how long to wait, and counted per voter."""
    _, member, poll_id = await class_with_poll(ctx)
    burst = ctx.settings.rate_limit_votes_per_10s
    acks = [await send_event(app, ctx, member, "vote", {"pollId": poll_id, "option": i % 3}) for i in range(burst + 3)]
    assert all(a["ok"] for a in acks[:burst]), acks[:burst]
    refused = acks[-1]
    assert not refused["ok"] and refused["reason"] == "rate-limited" and refused["retryAfterMs"] > 0, refused
    assert sum(not a["ok"] for a in acks) >= 2

    student = person("student")
    await enrollments.enrol(ctx, student, member.course_id, EnrollmentRequest())
    other = Member(connection_id=uuid.uuid4().hex, user_id=student.user_id, class_id=member.class_id,
                   course_id=member.course_id, role="student", name=student.name)
    assert (await send_event(app, ctx, other, "vote", {"pollId": poll_id, "option": 2}))["ok"]
    await ctx.throttles.tally.drain()


# --- chat, hands, reactions ------------------------------------------------------------------
async def classmates(ctx: AppContext, member: Member, count: int) -> list[Member]:
    """`member` and `count - 1` more students enrolled in the same class's course."""
    people = [member]
    for _ in range(count - 1):
        student = person("student")
        await enrollments.enrol(ctx, student, member.course_id, EnrollmentRequest())
        people.append(Member(connection_id=uuid.uuid4().hex, user_id=student.user_id, class_id=member.class_id,
                             course_id=member.course_id, role="student", name=student.name))
    return people


async def test_a_chat_message_is_one_redis_round_trip_and_one_statement(ctx, app, wire):
    tutor, member, _ = await class_with_poll(ctx)
    assert (await send_event(app, ctx, member, "chat", {"text": "warm"}))["ok"]

    wire.reset()
    ack = await send_event(app, ctx, member, "chat", {"text": "hello"})
    assert ack["ok"] and ack["seq"] > 0, ack
    assert wire.redis_writes <= CHAT_REDIS, wire.redis_commands
    assert len(wire.statements) <= CHAT_POSTGRES, wire.statements
    page = await chat.history(ctx, tutor, member.class_id, ChatQuery())
    assert [m.text for m in page.items] == ["hello", "warm"]


async def test_a_refused_chat_message_is_worded_from_its_one_redis_round_trip(ctx, app, wire):
    tutor, member, _ = await class_with_poll(ctx)
    muted, limited = await classmates(ctx, member, 2)
    assert (await send_event(app, ctx, limited, "chat", {"text": "warm"}))["ok"]
    await moderation.moderate(ctx, tutor, member.class_id, ModerationRequest(action="mute", user_id=muted.user_id))
    for n in range(ctx.settings.rate_limit_chat_per_10s - 1):
        assert (await send_event(app, ctx, limited, "chat", {"text": f"burst {n}"}))["ok"]

    for sender, reason in ((muted, "muted"), (limited, "rate-limited")):
        wire.reset()
        ack = await send_event(app, ctx, sender, "chat", {"text": "refused"})
        assert not ack["ok"] and ack["reason"] == reason and ack["seq"] > 0, ack
        assert wire.redis_writes <= REFUSED_CHAT_REDIS, wire.redis_commands
        assert wire.statements == [], wire.statements

    await classes.end_class(ctx, tutor, member.class_id)
    await ctx.background.drain()  # the ended class's clean-up, off the request's path
    wire.reset()
    ack = await send_event(app, ctx, limited, "chat", {"text": "anyone?"})
    assert not ack["ok"] and ack["reason"] == "class-ended", ack
    assert wire.redis_writes <= REFUSED_CHAT_REDIS, wire.redis_commands


async def test_twenty_chat_messages_sent_together_share_one_redis_round_trip_and_one_statement(ctx, app, wire):
    """Under load the chat scripts of concurrent events go out as one pipeline, their rows
    go to PostgreSQL in one INSERT, and each sender is acknowledged after it committed."""
    _, member, _ = await class_with_poll(ctx)
    senders = await classmates(ctx, member, 20)
    assert (await send_event(app, ctx, member, "chat", {"text": "warm"}))["ok"]

    wire.reset()
    acks = await asyncio.gather(*(send_event(app, ctx, s, "chat", {"text": f"from {s.name}"}) for s in senders))
    assert all(a["ok"] for a in acks), acks
    assert wire.redis_writes <= CHAT_REDIS, wire.redis_commands
    assert len(wire.statements) <= CHAT_POSTGRES, wire.statements
    async with ctx.db.connection() as conn:
        stored = await chat_sql.page(conn, member.class_id, 50, None)
    by_id = {str(row["id"]): row for row in stored}
    for sender, ack in zip(senders, acks, strict=True):  # every acknowledged message, with its seq
        assert by_id[ack["messageId"]]["seq"] == ack["seq"] and by_id[ack["messageId"]]["text"] == f"from {sender.name}"
    assert len({a["seq"] for a in acks}) == 20


async def test_a_message_postgresql_rejects_refuses_only_itself_and_leaves_the_recent_chat(ctx, app):
    """A NUL character is a row PostgreSQL will not store: sent among others at once, only
    its sender is refused, and the state snapshot's recent chat does not show it."""
    _, member, _ = await class_with_poll(ctx)
    senders = await classmates(ctx, member, 6)
    assert (await send_event(app, ctx, member, "chat", {"text": "warm"}))["ok"]
    texts = [f"fine {n}" for n in range(5)] + ["bad \u0000 row"]
    acks = await asyncio.gather(*(send_event(app, ctx, s, "chat", {"text": t}) for s, t in zip(senders, texts, strict=True)))
    assert [a["ok"] for a in acks] == [True] * 5 + [False], acks
    assert acks[-1]["reason"] == "unavailable"
    async with ctx.db.connection() as conn:
        stored = {row["text"] for row in await chat_sql.page(conn, member.class_id, 50, None)}
    assert stored == {"warm", *texts[:5]}
    state = await live_redis.snapshot(ctx.redis, member.class_id, 0, 50)
    assert {m["text"] for m in state.recent_chat} == {"warm", *texts[:5]}


async def test_hands_and_reactions_are_one_redis_round_trip_each(ctx, app, wire):
    _, member, _ = await class_with_poll(ctx)
    for name, data in (("reaction", {"emoji": "👏"}), ("raiseHand", {}), ("lowerHand", {})):  # warm: scripts loaded
        assert (await send_event(app, ctx, member, name, data))["ok"]
    await ctx.throttles.reactions.drain()

    for name, data, bound in (
        ("raiseHand", {}, HAND_REDIS),
        ("raiseHand", {}, HAND_REDIS),  # already up: acknowledged from the same call
        ("lowerHand", {}, HAND_REDIS),
        ("lowerHand", {}, HAND_REDIS),  # already down: the same
        ("reaction", {"emoji": "👏"}, REACTION_REDIS),
        ("reaction", {"emoji": "🎉"}, REACTION_REDIS),
    ):
        wire.reset()
        ack = await send_event(app, ctx, member, name, data)
        assert ack["ok"] and ack["seq"] > 0, ack
        assert wire.redis_writes <= bound, (name, wire.redis_commands)
        assert wire.statements == [], wire.statements
    await ctx.throttles.reactions.drain()


async def test_hands_and_reactions_keep_their_rates_and_refusals(ctx, app):
    tutor, member, _ = await class_with_poll(ctx)
    acks = [await send_event(app, ctx, member, "reaction", {"emoji": "👏"}) for _ in range(12)]
    assert all(a["ok"] for a in acks[:10]) and acks[-1]["reason"] == "rate-limited" and acks[-1]["retryAfterMs"] > 0
    raises = [await send_event(app, ctx, member, "raiseHand", {}) for _ in range(10)]
    assert raises[0]["changed"] and all(a["ok"] and not a["changed"] for a in raises[1:]), raises
    limited = await send_event(app, ctx, member, "raiseHand", {})
    assert not limited["ok"] and limited["reason"] == "rate-limited" and limited["retryAfterMs"] > 0, limited
    lowered = await send_event(app, ctx, member, "lowerHand", {})  # lowering is not rate-limited
    assert lowered["ok"] and lowered["changed"], lowered
    await classes.end_class(ctx, tutor, member.class_id)
    other = (await classmates(ctx, member, 2))[1]
    ended = await send_event(app, ctx, other, "raiseHand", {})
    assert not ended["ok"] and ended["reason"] == "class-ended"
    await ctx.throttles.reactions.drain()


# --- heartbeats ---------------------------------------------------------------------------
def heartbeat_request(
    ctx: AppContext, student: Principal, lesson_id: str, watched: float, *, token: str | None = None
) -> func.HttpRequest:
    if token is None:
        token, _ = issue_dev_token(ctx.settings, user_id=student.user_id, name=student.name, roles=["student"])
    return func.HttpRequest(
        method="PUT", url=f"http://localhost/api/progress/lessons/{lesson_id}",
        headers={"authorization": f"Bearer {token}", "content-type": "application/json",
                 "x-forwarded-for": "203.0.113.7:50000"},
        route_params={"lessonId": lesson_id},
        body=json.dumps({"positionSeconds": watched, "watchedSeconds": watched, "durationSeconds": 600}).encode(),
    )


async def test_a_heartbeat_costs_two_redis_round_trips_and_no_statement(ctx, app, wire):
    _, course_id, lesson_id = await published_course(ctx)
    student = person("student")
    await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())
    for watched in (1, 2):  # warm: the account, the content cache, the snapshot, the course fraction
        response = await app["record_progress"](heartbeat_request(ctx, student, lesson_id, watched))
        assert response.status_code == 202, response.get_body()

    wire.reset()
    response = await app["record_progress"](heartbeat_request(ctx, student, lesson_id, 3))
    assert response.status_code == 202, response.get_body()
    assert wire.redis_writes <= HEARTBEAT_REDIS, wire.redis_commands
    assert len(wire.statements) <= HEARTBEAT_POSTGRES, wire.statements


async def test_heartbeats_sent_together_share_their_round_trips(ctx, app, wire):
    """Ten students' heartbeats at once: each of the two round trips of a heartbeat goes out
    once for all of them (the write limits, stored roles and content cache together, then
    the script)."""
    _, course_id, lesson_id = await published_course(ctx)
    students = [person("student") for _ in range(10)]
    for student in students:
        await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())
    for watched in (1, 2):  # warm
        answers = await asyncio.gather(
            *(app["record_progress"](heartbeat_request(ctx, s, lesson_id, watched)) for s in students)
        )
        assert all(a.status_code == 202 for a in answers)

    requests = [heartbeat_request(ctx, s, lesson_id, 3) for s in students]
    wire.reset()
    answers = await asyncio.gather(*(app["record_progress"](r) for r in requests))
    assert all(a.status_code == 202 for a in answers), [a.get_body() for a in answers]
    assert wire.redis_writes <= HEARTBEAT_REDIS, wire.redis_commands
    assert len(wire.statements) <= HEARTBEAT_POSTGRES, wire.statements


async def test_an_address_past_its_write_rate_meets_429_before_its_tokens_are_judged(ctx, app):
    """The per-address limit now goes out beside the per-user one, after the token is
    verified; a request with a bad token is still counted, and past the rate its answer is
    429, not 401."""
    ctx.settings = ctx.settings.model_copy(update={"rate_limit_writes_per_ip_per_minute": 3})
    _, course_id, lesson_id = await published_course(ctx)
    student = person("student")
    await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())
    forged = heartbeat_request(ctx, student, lesson_id, 1, token="not-a-token")
    statuses = [(await app["record_progress"](forged)).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    assert (await app["record_progress"](forged)).status_code == 429
    assert (await app["record_progress"](heartbeat_request(ctx, student, lesson_id, 1))).status_code == 429


# --- joining a class ----------------------------------------------------------------------
# Negotiate: the write limits, the join limits, the stored roles, the class's status,
# course and the caller's moderation flags, and (the class's course known in this process)
# the course cache, all in one pipeline; no statement (before: six round trips, and before
# that the class's row).
NEGOTIATE_REDIS = 1
NEGOTIATE_POSTGRES = 0
# A ticketed connect: the stored roles, the course's cached row and membership, and the
# class script (status, removal, caps, presence), all in one pipeline; no statement.
CONNECT_REDIS = 1
CONNECT_POSTGRES = 0


def negotiate_request(ctx: AppContext, who: Principal, class_id: str) -> func.HttpRequest:
    token, _ = issue_dev_token(ctx.settings, user_id=who.user_id, name=who.name, roles=sorted(who.roles))
    return func.HttpRequest(
        method="POST", url=f"http://localhost/api/classes/{class_id}/negotiate",
        headers={"authorization": f"Bearer {token}", "x-forwarded-for": "203.0.113.8:50000"},
        route_params={"classId": class_id}, body=b"",
    )


def connect_request(ctx: AppContext, user_id: str, url: str) -> func.HttpRequest:
    connection_id = uuid.uuid4().hex
    signature = hmac.new(_access_key(ctx).encode(), connection_id.encode(), hashlib.sha256).hexdigest()
    query = parse_qs(urlsplit(url).query)
    return func.HttpRequest(
        method="POST", url="http://localhost/api/webpubsub/events",
        headers={"ce-type": "azure.webpubsub.sys.connect", "ce-eventname": "connect",
                 "ce-connectionid": connection_id, "ce-userid": user_id, "ce-signature": f"sha256={signature}",
                 "content-type": "application/json"},
        body=json.dumps({"query": {k: v for k, v in query.items() if k != "access_token"}}).encode(),
    )


async def test_negotiate_and_a_ticketed_connect_read_no_postgresql(ctx, app, wire):
    _, member, _ = await class_with_poll(ctx)
    student = Principal(user_id=member.user_id, name=member.name, roles=frozenset({"student"}))
    for _ in range(2):  # warm: the account, the content cache, the class's state, the scripts, the pool
        negotiated = await app["negotiate"](negotiate_request(ctx, student, member.class_id))
        assert negotiated.status_code == 200, negotiated.get_body()
        url = json.loads(negotiated.get_body())["url"]
        assert (await app["webpubsub_events"](connect_request(ctx, member.user_id, url))).status_code == 200

    wire.reset()
    negotiated = await app["negotiate"](negotiate_request(ctx, student, member.class_id))
    assert negotiated.status_code == 200, negotiated.get_body()
    assert wire.redis_writes <= NEGOTIATE_REDIS, wire.redis_commands
    assert len(wire.statements) <= NEGOTIATE_POSTGRES, wire.statements

    wire.reset()
    connected = await app["webpubsub_events"](connect_request(ctx, member.user_id, json.loads(negotiated.get_body())["url"]))
    assert connected.status_code == 200, connected.get_body()
    assert connected.headers.get("ce-connectionState")
    assert wire.redis_writes <= CONNECT_REDIS, wire.redis_commands
    assert len(wire.statements) <= CONNECT_POSTGRES, wire.statements


async def test_a_storm_of_students_whose_cached_accounts_expired_reads_the_users_table_once(ctx, app, wire):
    """A class's students joining at once mostly come with their accounts gone from the
    cache (it keeps them seconds): their misses are read in one statement and put back in
    one pipeline, not a query and a write each."""
    _, member, _ = await class_with_poll(ctx)
    course_id, class_id = member.course_id, member.class_id
    students = [person("student") for _ in range(12)]
    for student in students:
        await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())
        assert (await app["negotiate"](negotiate_request(ctx, student, class_id))).status_code == 200  # warm
    await ctx.redis.delete(*(keys.user_account(s.user_id) for s in students))  # their copies expired

    wire.reset()
    answers = await asyncio.gather(*(app["negotiate"](negotiate_request(ctx, s, class_id)) for s in students))
    assert all(a.status_code == 200 for a in answers), [a.get_body() for a in answers]
    reads = [s for s in wire.statements if "FROM users" in s]
    assert len(reads) == 1, wire.statements
    assert wire.redis_commands.count("SET") == len(students)
    cached = await ctx.redis.mget([keys.user_account(s.user_id) for s in students])
    assert all(cached), "every account is cached again"


async def test_a_student_whose_role_is_wrong_makes_no_statement_for_the_prefetched_lesson(ctx, app, wire):
    """The relation's cache read is sent before the caller is judged; with the lesson's
    entries gone from Redis, a caller refused by the role gate still costs PostgreSQL nothing."""
    tutor, course_id, lesson_id = await published_course(ctx)
    student = person("student")
    await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())
    assert (await app["record_progress"](heartbeat_request(ctx, student, lesson_id, 1))).status_code == 202
    other_tutor = person("tutor")  # heartbeats are for students: a tutor is refused by the role gate
    token, _ = issue_dev_token(ctx.settings, user_id=other_tutor.user_id, name=other_tutor.name, roles=["tutor"])
    for _ in range(2):  # warm: the tutor's account row, then its cached copy
        assert (await app["record_progress"](heartbeat_request(ctx, other_tutor, lesson_id, 1, token=token))).status_code == 403
    await ctx.redis.delete(keys.content_lesson(course_id, lesson_id), keys.content_course(course_id))

    wire.reset()
    response = await app["record_progress"](heartbeat_request(ctx, other_tutor, lesson_id, 1, token=token))
    assert response.status_code == 403, response.get_body()
    assert wire.statements == []
    assert "MGET" in wire.redis_commands  # the prefetch was sent, and judged only after the caller


# --- lesson reads -------------------------------------------------------------------------
def lesson_request(ctx: AppContext, caller: Principal, lesson_id: str, *, role: str = "student") -> func.HttpRequest:
    token, _ = issue_dev_token(ctx.settings, user_id=caller.user_id, name=caller.name, roles=[role])
    return func.HttpRequest(
        method="GET", url=f"http://localhost/api/lessons/{lesson_id}",
        headers={"authorization": f"Bearer {token}", "x-forwarded-for": "203.0.113.7:50000"},
        route_params={"lessonId": lesson_id}, body=b"",
    )


async def read_lesson(app: dict[str, Any], request: func.HttpRequest) -> dict[str, Any]:
    response = await app["get_lesson"](request)
    assert response.status_code == 200, response.get_body()
    body: dict[str, Any] = json.loads(response.get_body())
    return body


async def test_a_cached_lesson_read_is_one_redis_round_trip_and_no_statement(ctx, app, wire):
    _, course_id, lesson_id = await published_course(ctx)
    student = person("student")
    await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())
    request = lesson_request(ctx, student, lesson_id)
    await read_lesson(app, request)  # warm: the account, the content cache

    wire.reset()
    assert (await read_lesson(app, request))["id"] == lesson_id
    assert wire.redis_writes <= LESSON_READ_REDIS, wire.redis_commands
    assert len(wire.statements) <= LESSON_READ_POSTGRES, wire.statements


async def test_a_reader_past_their_rate_makes_no_statement_for_the_prefetched_lesson(ctx, app, wire):
    ctx.settings = ctx.settings.model_copy(update={"rate_limit_reads_per_minute": 2})
    _, course_id, lesson_id = await published_course(ctx)
    student = person("student")
    await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())
    request = lesson_request(ctx, student, lesson_id)
    await read_lesson(app, request)
    await read_lesson(app, request)
    await ctx.redis.delete(keys.content_lesson(course_id, lesson_id), keys.content_course(course_id))

    wire.reset()
    response = await app["get_lesson"](request)
    assert response.status_code == 429, response.get_body()
    assert wire.statements == []


async def test_a_lesson_kept_as_bytes_is_served_fresh_after_an_edit_and_per_audience(ctx, app):
    """The rendered answer is kept per cached entry: an edit makes a new entry (and a new
    answer) at once, and the tutor's answer (with the asset id) is never a student's."""
    tutor, course_id, lesson_id = await published_course(ctx)
    student = person("student")
    await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())
    as_student, as_tutor = lesson_request(ctx, student, lesson_id), lesson_request(ctx, tutor, lesson_id, role="tutor")
    first = await read_lesson(app, as_student)
    assert await read_lesson(app, as_student) == first
    assert first["videoAssetId"] is None and first["hasVideo"]
    assert (await read_lesson(app, as_tutor))["videoAssetId"] is not None
    assert (await read_lesson(app, as_student))["videoAssetId"] is None

    await courses.update_lesson(ctx, tutor, lesson_id, LessonUpdate(title="Renamed"))
    assert (await read_lesson(app, as_student))["title"] == "Renamed"
    assert (await read_lesson(app, as_tutor))["title"] == "Renamed"


# --- quiz submits -------------------------------------------------------------------------
def attempt_request(ctx: AppContext, student: Principal, quiz_id: str, answers: list[list[int]], key: str) -> func.HttpRequest:
    token, _ = issue_dev_token(ctx.settings, user_id=student.user_id, name=student.name, roles=["student"])
    return func.HttpRequest(
        method="POST", url=f"http://localhost/api/quizzes/{quiz_id}/attempts",
        headers={"authorization": f"Bearer {token}", "content-type": "application/json", "idempotency-key": key,
                 "x-forwarded-for": "203.0.113.7:50000"},
        route_params={"quizId": quiz_id},
        body=json.dumps({"answers": answers}).encode(),
    )


async def quiz_with_student(ctx: AppContext) -> tuple[Principal, str]:
    tutor, course_id, _ = await published_course(ctx)
    _, lesson = await courses.add_lesson(ctx, tutor, course_id, LessonCreate(title="Q", kind="quiz"), idempotency_key=None)
    questions = [QuestionCreate(prompt=f"q{i}", options=["a", "b", "c"], correct=[0], points=1) for i in range(3)]
    quiz = await quizzes.create_quiz(ctx, tutor, QuizCreate(lesson_id=lesson["id"], title="Q", questions=questions, max_attempts=10))
    student = person("student")
    await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())
    return student, str(quiz.id)


async def test_a_warm_quiz_submit_is_one_statement(ctx, app, wire, monkeypatch):
    """A submit that does not pass is graded from the process's copy of the quiz and stored
    by one statement outside a transaction (the attempt, its count against the limit, the
    best score, the key's answer and the notification); the Redis calls are the write
    limits, the stored roles, the course membership, the leaderboard and the dashboard. The
    pushes and the change log follow off the request's path (counted apart below)."""
    student, quiz_id = await quiz_with_student(ctx)
    wrong = [[1], [1], [1]]
    warm = await app["submit_quiz_attempt"](attempt_request(ctx, student, quiz_id, wrong, "warm"))
    assert warm.status_code == 201, warm.get_body()
    await ctx.background.drain()

    # What the request leaves for after its answer is held back here and run once it has
    # answered, so each side is counted apart whatever the timing.
    held: list[Any] = []
    spawn = ctx.background.spawn
    monkeypatch.setattr(ctx.background, "spawn", held.append)
    wire.reset()
    response = await app["submit_quiz_attempt"](attempt_request(ctx, student, quiz_id, wrong, "measured"))
    assert response.status_code == 201, response.get_body()
    assert json.loads(response.get_body())["attemptNo"] == 2
    assert len(wire.statements) <= QUIZ_SUBMIT_POSTGRES, wire.statements
    assert wire.redis_writes <= QUIZ_SUBMIT_REDIS, wire.redis_commands
    monkeypatch.setattr(ctx.background, "spawn", spawn)
    wire.reset()
    for work in held:
        spawn(work)
    await ctx.background.drain()
    # After the answer: the removal of the row the effects were parked in with the attempt
    # (the two pushes and the change-log row are HTTP).
    assert len(wire.statements) <= QUIZ_EFFECTS_POSTGRES, wire.statements

    wire.reset()
    replay = await app["submit_quiz_attempt"](attempt_request(ctx, student, quiz_id, wrong, "measured"))
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    assert len(wire.statements) <= QUIZ_SUBMIT_POSTGRES, wire.statements  # the same statement answers a replay
