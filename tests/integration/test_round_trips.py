"""Round trips per vote and per heartbeat, counted on the app's side of the wire.

Each operation goes the whole way a real one goes (the indexed function, the endpoint's
checks, the service, the stores) in this process, against a redis-server this module owns,
so the counts do not depend on the machine's load or on other tests: every write the Redis
client puts on a socket is one round trip (a pipeline is one), and every statement psycopg
sends is one PostgreSQL round trip. The operation is measured warm (scripts loaded, the
account and the content cache filled), as nearly every vote and heartbeat runs. The bounds
are today's counts: a change that adds a round trip to either hot path fails here.
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

import azure.functions as func
import psycopg
import pytest
from redis.asyncio.connection import AbstractConnection

from shared_code import bootstrap
from shared_code.adapters.postgres import polls as polls_sql
from shared_code.adapters.postgres.polls import Vote
from shared_code.auth import Principal, issue_dev_token
from shared_code.context import AppContext
from shared_code.models.content import CourseCreate, CourseUpdate, EnrollmentRequest, LessonCreate, VideoCreate
from shared_code.models.live import ClassCreate, PollCreate
from shared_code.models.progress import QuestionCreate, QuizCreate
from shared_code.services.content import courses, enrollments, videos
from shared_code.services.live import classes, polls
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
HEARTBEAT_REDIS = 4  # write limits (one pipeline), stored roles, content cache, heartbeat script
HEARTBEAT_POSTGRES = 0
QUIZ_SUBMIT_POSTGRES = 1  # one statement: the attempt, the limit, the best score, the key's answer
QUIZ_SUBMIT_REDIS = 5  # write limits, stored roles, course membership, leaderboard script, dashboard
QUIZ_EFFECTS_POSTGRES = 1  # after the answer: the notification's row

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


async def class_with_poll(ctx: AppContext) -> tuple[Principal, Member, str]:
    tutor, course_id, _ = await published_course(ctx)
    student = person("student")
    await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())
    created = ClassCreate(course_id=uuid.UUID(course_id), title="Trips", scheduled_at=datetime.now(UTC))
    live = await classes.create_class(ctx, tutor, created)
    await classes.start_class(ctx, tutor, str(live.id))
    poll = await polls.open_poll(ctx, tutor, str(live.id), PollCreate(question="Q?", options=["a", "b", "c"]))
    member = Member(connection_id=uuid.uuid4().hex, user_id=student.user_id, class_id=str(live.id),
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


async def test_a_heartbeat_costs_four_redis_round_trips_and_no_statement(ctx, app, wire):
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
    """Ten students' heartbeats at once: each of the four calls of a heartbeat goes out once
    for all of them (the write limits, the stored roles, the content cache, the script)."""
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
    best score and the key's answer); the Redis calls are the write limits, the stored
    roles, the course membership, the leaderboard and the dashboard. The push, the change
    log and the notification follow off the request's path (counted apart below)."""
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
    # After the answer: the notification's row (the push and the change-log row are HTTP).
    assert len(wire.statements) <= QUIZ_EFFECTS_POSTGRES, wire.statements

    wire.reset()
    replay = await app["submit_quiz_attempt"](attempt_request(ctx, student, quiz_id, wrong, "measured"))
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    assert len(wire.statements) <= QUIZ_SUBMIT_POSTGRES, wire.statements  # the same statement answers a replay
