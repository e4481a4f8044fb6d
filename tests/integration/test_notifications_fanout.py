"""A notification for a whole course against real PostgreSQL and Web PubSub: 1,200
enrolled students are written with one statement, the few new recipients of a later
retry with none, and the push is one send to the course group that leaves the tutor out."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.domain import notifications as texts
from shared_code.models.notifications import NotificationQuery
from shared_code.platform import outbox
from shared_code.services.notifications import delivery, feed
from tests.integration.conftest import person
from tests.integration.test_notifications_reminders import course_of

pytestmark = pytest.mark.timeout(120)

STUDENTS = 1200


async def bulk_enrol(postgres_url: str, course_id: str, count: int) -> list[str]:
    """Students enrolled in bulk: through the API a thousand would take minutes."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        await conn.execute("INSERT INTO users (id, name, roles) SELECT unnest(%s::uuid[]), 'bulk', '{student}'", (ids,))
        await conn.execute(
            "INSERT INTO enrollments (course_id, user_id, source) SELECT %s, unnest(%s::uuid[]), 'admin'", (course_id, ids)
        )
    return ids


async def test_a_course_of_1200_students_is_notified_in_one_statement_and_pushed_with_one_group_send(
    ctx: AppContext, stack, monkeypatch
):
    tutor = person("tutor")
    course_id = await course_of(ctx, tutor)
    ids = await bulk_enrol(stack.postgres_url, course_id, STUDENTS)
    draft = texts.material_published(str(uuid.uuid4()), course_id, "Big course", "slides.pdf", datetime.now(UTC))
    payload = {"courseId": course_id, "tutorId": tutor.user_id, "draft": draft.payload()}

    statements: list[str] = []
    execute = psycopg.AsyncCursor.execute  # every statement, through a connection's execute or a cursor's

    async def counted(self, query, *args, **kwargs):
        statements.append(str(query))
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.AsyncCursor, "execute", counted)
    group_sends: list[tuple[str, dict, str | None]] = []
    user_sends: list[str] = []
    send_to_group, send_to_user = ctx.pubsub.send_to_group, ctx.pubsub.send_to_user

    async def to_group(group: str, message: dict, *, excluded=None, where=None) -> None:
        group_sends.append((group, message, where))
        await send_to_group(group, message, excluded=excluded, where=where)

    async def to_user(user_id: str, message: dict) -> None:
        user_sends.append(user_id)
        await send_to_user(user_id, message)

    monkeypatch.setattr(ctx.pubsub, "send_to_group", to_group)
    monkeypatch.setattr(ctx.pubsub, "send_to_user", to_user)

    started = time.monotonic()
    await delivery.write_for_enrolled(ctx, payload)
    took = time.monotonic() - started
    await ctx.background.drain()
    assert len(statements) == 1 and "INSERT INTO notifications" in statements[0], statements
    # Well inside the time the outbox allows one effect.
    assert took < outbox.EFFECT_TIMEOUT_SECONDS, took
    assert user_sends == []
    assert len(group_sends) == 1
    group, message, where = group_sends[0]
    assert group == f"course.{course_id}" and where == f"userId ne '{tutor.user_id}'"
    assert message["type"] == "notification.created" and message["key"] == draft.key and "id" not in message

    monkeypatch.setattr(psycopg.AsyncCursor, "execute", execute)
    async with await psycopg.AsyncConnection.connect(stack.postgres_url) as conn:
        cur = await conn.execute("SELECT count(*) FROM notifications WHERE dedupe_key = %s", (draft.key,))
        assert (await cur.fetchone())[0] == STUDENTS

    # A retry of the same effect (the queue delivered it twice) writes and pushes nothing;
    # a student enrolled since is the one new row, pushed to that student alone with its id.
    (late,) = await bulk_enrol(stack.postgres_url, course_id, 1)
    group_sends.clear()
    await delivery.write_for_enrolled(ctx, payload)
    await ctx.background.drain()
    assert group_sends == [] and user_sends == [late]
    first = Principal(user_id=ids[0], name="bulk", roles=frozenset({"student"}))
    page = await feed.list_notifications(ctx, first, NotificationQuery())
    assert [n.key for n in page.items] == [draft.key] and page.unread_count == 1
