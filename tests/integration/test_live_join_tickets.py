"""Join tickets: negotiate signs what it checked, and a connect that carries its own valid
ticket is admitted without PostgreSQL; anything revoked in between still refuses it with
the status and words of the full check, and a ticket that is not this user's, not this
class's, expired or forged is no ticket (that connect is checked in full).

Each connect goes the whole way (the indexed event handler, its signature check, the
service, the stores) in this process; a PostgreSQL statement during the connect is how a
test sees that the full check ran.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import azure.functions as func
import pytest

from shared_code import bootstrap
from shared_code.adapters.redis import keys
from shared_code.adapters.redis import live_presence as presence_redis
from shared_code.auth import Principal, issue_dev_token
from shared_code.context import AppContext
from shared_code.models.content import CourseUpdate
from shared_code.models.live import ClassCreate, ModerationRequest
from shared_code.services.admin import takedowns
from shared_code.services.content import courses, enrollments
from shared_code.services.live import classes, moderation
from shared_code.services.live.connection_state import Ticket, decode_ticket, encode_ticket, state_key
from tests.integration.conftest import person
from tests.integration.test_round_trips import Wire, started_class
from tests.support.app_index import lectern_functions

pytestmark = pytest.mark.timeout(120)

MEMBERS_ONLY = "Only students enrolled in this course, its tutor and admins may do this."


@pytest.fixture
def app(ctx: AppContext, monkeypatch) -> dict[str, Any]:
    monkeypatch.setattr(bootstrap, "_context", ctx)
    return {f.name: f.user_function for f in lectern_functions()}


@pytest.fixture
def statements(monkeypatch) -> Wire:
    """Every PostgreSQL statement this process sends (the round-trip test's counter)."""
    import psycopg

    seen = Wire()
    execute = psycopg.AsyncCursor.execute

    async def statement(self: psycopg.AsyncCursor, query: Any, *args: Any, **kwargs: Any) -> Any:
        seen.statements.append(" ".join(str(query).split())[:80])
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncCursor, "execute", statement)
    return seen


def _access_key(ctx: AppContext) -> str:
    text = ctx.settings.webpubsub_connection_string.get_secret_value()
    return next(p.split("=", 1)[1] for p in text.split(";") if p.lower().startswith("accesskey="))


async def negotiate(app: dict[str, Any], ctx: AppContext, who: Principal, class_id: str) -> func.HttpResponse:
    token, _ = issue_dev_token(ctx.settings, user_id=who.user_id, name=who.name, roles=sorted(who.roles))
    return await app["negotiate"](func.HttpRequest(
        method="POST", url=f"http://localhost/api/classes/{class_id}/negotiate",
        headers={"authorization": f"Bearer {token}", "x-forwarded-for": "203.0.113.9:50000"},
        route_params={"classId": class_id}, body=b"",
    ))


async def ticket_of(app: dict[str, Any], ctx: AppContext, who: Principal, class_id: str) -> str:
    response = await negotiate(app, ctx, who, class_id)
    assert response.status_code == 200, response.get_body()
    query = parse_qs(urlsplit(json.loads(response.get_body())["url"]).query)
    assert query["classId"] == [class_id]
    return query["ticket"][0]


def connect_request(ctx: AppContext, user_id: str, class_id: str, ticket: str | None) -> func.HttpRequest:
    connection_id = uuid.uuid4().hex
    signature = hmac.new(_access_key(ctx).encode(), connection_id.encode(), hashlib.sha256).hexdigest()
    query: dict[str, list[str]] = {"classId": [class_id]}
    if ticket is not None:
        query["ticket"] = [ticket]
    return func.HttpRequest(
        method="POST", url="http://localhost/api/webpubsub/events",
        headers={"ce-type": "azure.webpubsub.sys.connect", "ce-eventname": "connect",
                 "ce-connectionid": connection_id, "ce-userid": user_id, "ce-signature": f"sha256={signature}",
                 "content-type": "application/json"},
        body=json.dumps({"query": query, "subprotocols": ["json.webpubsub.azure.v1"]}).encode(),
    )


async def connect(app: dict[str, Any], ctx: AppContext, user_id: str, class_id: str,
                  ticket: str | None) -> tuple[int, str]:
    response = await app["webpubsub_events"](connect_request(ctx, user_id, class_id, ticket))
    return response.status_code, response.get_body().decode()


async def live_class(ctx: AppContext) -> tuple[Principal, str, str, Principal]:
    """A started class of a published course, and one enrolled student."""
    return await started_class(ctx, "Tickets")


# --- the ticket itself ------------------------------------------------------------------------
def test_a_ticket_opens_only_its_own_user_and_class_until_it_expires():
    key = b"k" * 32
    user, klass, course = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    ticket = Ticket(user, klass, course, "student", expires_ms=2_000)
    signed = encode_ticket(ticket, key)
    assert decode_ticket(signed, user, klass, 1_999, key) == ticket
    assert decode_ticket(signed, user, klass, 2_000, key) is None  # expired
    assert decode_ticket(signed, str(uuid.uuid4()), klass, 1_000, key) is None  # another user
    assert decode_ticket(signed, user, str(uuid.uuid4()), 1_000, key) is None  # another class
    assert decode_ticket(signed, user, klass, 1_000, b"x" * 32) is None  # another key


def test_a_ticket_cannot_be_rewritten_without_the_key():
    key = b"k" * 32
    user, klass, course = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    signed = encode_ticket(Ticket(user, klass, course, "student", expires_ms=2_000), key)
    encoded, mac = signed.split(".")
    payload = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    for change in ({"r": "tutor"}, {"e": 10**15}, {"c": str(uuid.uuid4())}, {"u": str(uuid.uuid4())}):
        forged = base64.urlsafe_b64encode(json.dumps({**payload, **change}).encode()).decode().rstrip("=")
        target_user, target_class = change.get("u", user), change.get("c", klass)
        assert decode_ticket(f"{forged}.{mac}", target_user, target_class, 1_000, key) is None, change
    assert decode_ticket(f"{encoded}.{'0' * 64}", user, klass, 1_000, key) is None
    for junk in ("", ".", "a.b.c", "é.é", None, 7):
        assert decode_ticket(junk, user, klass, 1_000, key) is None


# --- a ticketed connect -----------------------------------------------------------------------
async def test_a_ticketed_connect_reads_no_postgresql(ctx, app, statements):
    _, _, class_id, student = await live_class(ctx)
    ticket = await ticket_of(app, ctx, student, class_id)
    statements.reset()
    status, body = await connect(app, ctx, student.user_id, class_id, ticket)
    assert status == 200, body
    assert json.loads(body)["userId"] == student.user_id
    assert statements.statements == []


async def test_an_accepted_connect_makes_the_student_present_and_counted(ctx, app):
    """Presence starts when `connect` accepts (the hub sends no `connected`), on both paths."""
    _, _, class_id, student = await live_class(ctx)
    ticket = await ticket_of(app, ctx, student, class_id)
    assert (await connect(app, ctx, student.user_id, class_id, ticket))[0] == 200
    assert await seen(ctx, class_id) == (1, 1, {student.user_id: student.name})
    assert (await connect(app, ctx, student.user_id, class_id, None))[0] == 200  # checked in full
    assert await seen(ctx, class_id) == (1, 2, {student.user_id: student.name})  # two tabs: present once
    await ctx.throttles.presence.drain()


async def seen(ctx: AppContext, class_id: str) -> tuple[int, int, dict[str, str]]:
    """The class's presence count, its admitted connections and the names it shows."""
    return (
        await presence_redis.presence_count(ctx.redis, class_id),
        await ctx.redis.zcard(keys.live_admitted(class_id)),
        await ctx.redis.hgetall(keys.live_names(class_id)),
    )


async def test_a_ticket_replayed_into_another_class_or_by_another_user_is_checked_in_full(ctx, app, statements):
    tutor, course_id, class_id, student = await live_class(ctx)
    ticket = await ticket_of(app, ctx, student, class_id)
    # Another class of another course: the student is no member there.
    _, _, foreign_class, _ = await live_class(ctx)
    assert await connect(app, ctx, student.user_id, foreign_class, ticket) == (403, MEMBERS_ONLY)
    # Another user, not enrolled, with the student's ticket for the student's class.
    outsider = person("student")
    await negotiate(app, ctx, outsider, class_id)  # makes the outsider's row; refused (403)
    assert await connect(app, ctx, outsider.user_id, class_id, ticket) == (403, MEMBERS_ONLY)
    # Another class of the same course, where the student may go: let in, but checked in full.
    sibling = await classes.create_class(
        ctx, tutor, ClassCreate(course_id=uuid.UUID(course_id), title="Sibling", scheduled_at=datetime.now(UTC))
    )
    statements.reset()
    status, _ = await connect(app, ctx, student.user_id, str(sibling.id), ticket)
    assert status == 200 and statements.statements


async def test_an_expired_or_forged_ticket_is_no_ticket(ctx, app, statements):
    _, course_id, class_id, student = await live_class(ctx)
    key = state_key(ctx.settings)
    expired = encode_ticket(Ticket(student.user_id, class_id, course_id, "student", 1), key)
    forged = encode_ticket(Ticket(student.user_id, class_id, course_id, "student", 2**50), b"?" * 32)
    for ticket in (expired, forged):
        statements.reset()
        status, body = await connect(app, ctx, student.user_id, class_id, ticket)
        assert status == 200, body
        assert statements.statements, "a ticket that is no ticket is checked in full"


async def test_a_forged_tutor_ticket_gets_a_student_nothing(ctx, app):
    """A student of another course who signs a tutor's ticket with a guessed key is refused
    as the full check refuses them."""
    _, course_id, class_id, _ = await live_class(ctx)
    outsider = person("student")
    await negotiate(app, ctx, outsider, class_id)
    forged = encode_ticket(Ticket(outsider.user_id, class_id, course_id, "tutor", 2**50), b"guess" * 8)
    assert await connect(app, ctx, outsider.user_id, class_id, forged) == (403, MEMBERS_ONLY)


# --- revoked between negotiate and connect ----------------------------------------------------
async def test_leaving_the_course_after_negotiate_refuses_the_connect(ctx, app):
    _, course_id, class_id, student = await live_class(ctx)
    ticket = await ticket_of(app, ctx, student, class_id)
    await enrollments.leave(ctx, student, course_id)
    assert await connect(app, ctx, student.user_id, class_id, ticket) == (403, MEMBERS_ONLY)
    # The ticket's one Redis call had counted and joined the student: both are undone.
    assert (await seen(ctx, class_id))[:2] == (0, 0)
    await ctx.throttles.presence.drain()


async def test_removal_from_the_class_after_negotiate_refuses_the_connect(ctx, app):
    tutor, _, class_id, student = await live_class(ctx)
    ticket = await ticket_of(app, ctx, student, class_id)
    await moderation.moderate(ctx, tutor, class_id, ModerationRequest(action="remove", user_id=uuid.UUID(student.user_id)))
    assert await connect(app, ctx, student.user_id, class_id, ticket) == (403, "You were removed from this class.")


async def test_the_end_of_the_class_after_negotiate_refuses_the_connect(ctx, app):
    tutor, _, class_id, student = await live_class(ctx)
    ticket = await ticket_of(app, ctx, student, class_id)
    await classes.end_class(ctx, tutor, class_id)
    assert await connect(app, ctx, student.user_id, class_id, ticket) == (403, "The class has ended.")


async def test_a_takedown_after_negotiate_refuses_the_connect(ctx, app):
    """A takedown ends the course's running classes; a scheduled one stays, and only the
    course's cached row (a new generation) tells the connect."""
    tutor, course_id, _, student = await live_class(ctx)
    scheduled = await classes.create_class(
        ctx, tutor, ClassCreate(course_id=uuid.UUID(course_id), title="Later", scheduled_at=datetime.now(UTC))
    )
    class_id = str(scheduled.id)
    ticket = await ticket_of(app, ctx, student, class_id)
    await takedowns.set_course(ctx, person("admin"), course_id, "Reported")
    assert await connect(app, ctx, student.user_id, class_id, ticket) == (404, "No such class.")


async def test_a_course_hidden_after_negotiate_refuses_the_connect(ctx, app):
    """Unpublishing hides the course from its students (its classes go on): the course's
    cached row, read beside the class script, refuses as the full check does."""
    tutor, course_id, class_id, student = await live_class(ctx)
    ticket = await ticket_of(app, ctx, student, class_id)
    await courses.update_course(ctx, tutor, course_id, CourseUpdate(published=False))
    assert await connect(app, ctx, student.user_id, class_id, ticket) == (404, "No such class.")
    assert (await seen(ctx, class_id))[:2] == (0, 0)
    await ctx.throttles.presence.drain()


# --- the join limits --------------------------------------------------------------------------
async def test_one_user_past_the_join_rate_is_refused_in_its_own_words_from_any_address(ctx, app):
    """The per-user join budget is counted with the caller's checks (one round trip), by both
    negotiate endpoints; a new address buys no new budget."""
    _, _, class_id, student = await live_class(ctx)
    token, _ = issue_dev_token(ctx.settings, user_id=student.user_id, name=student.name, roles=["student"])

    def request(n: int, url: str, route: dict[str, str]) -> func.HttpRequest:
        return func.HttpRequest(
            method="POST", url=url, route_params=route, body=b"",
            headers={"authorization": f"Bearer {token}", "x-forwarded-for": f"198.51.100.{n % 250}:5000"},
        )

    budget = ctx.settings.rate_limit_negotiate_per_minute
    for n in range(budget):
        if n % 2:
            response = await app["negotiate_personal"](request(n, "http://localhost/api/me/negotiate", {}))
        else:
            response = await app["negotiate"](request(
                n, f"http://localhost/api/classes/{class_id}/negotiate", {"classId": class_id}))
        assert response.status_code == 200, response.get_body()
    refused = await app["negotiate"](request(budget, f"http://localhost/api/classes/{class_id}/negotiate",
                                             {"classId": class_id}))
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert json.loads(refused.get_body())["detail"] == "Too many joins; wait a moment."
