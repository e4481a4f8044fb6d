"""A notification is stored (or queued for retry) before the call that makes it returns.

Work a request leaves running after it answers is not promised any time: the instance may
stop as soon as the response is out. So the callers (a certificate issued, a material
published, a refund) must not answer before the notification's row is written; only the
live push, which the row does not depend on, may follow later. These tests stop every task
left for after the call, as such an instance would, and look for the rows at once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

import pytest

from shared_code.context import AppContext
from shared_code.domain import notifications as texts
from shared_code.services.notifications import delivery
from tests.integration.conftest import person
from tests.integration.test_notifications_reminders import course_of, enrolled

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture
def instance_stops_after_answering(ctx: AppContext, monkeypatch) -> list[Any]:
    """Nothing started off the caller's path ever runs; returns what was dropped."""
    dropped: list[Any] = []

    def never_runs(work: Awaitable[Any]) -> asyncio.Future[None]:
        dropped.append(work)
        if asyncio.iscoroutine(work):
            work.close()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    monkeypatch.setattr(ctx.background, "spawn", never_runs)
    return dropped


async def keys_of(ctx: AppContext, user_id: str) -> list[str]:
    async with ctx.db.connection() as conn:
        cur = await conn.execute("SELECT dedupe_key FROM notifications WHERE user_id = %s", (user_id,))
        return [row["dedupe_key"] for row in await cur.fetchall()]


async def test_one_users_notification_is_written_before_the_call_returns(ctx, instance_stops_after_answering):
    tutor = person("tutor")
    course_id = await course_of(ctx, tutor)
    student = await enrolled(ctx, course_id)
    purchase_id = str(uuid.uuid4())
    await delivery.notify_user(ctx, student.user_id, texts.refund_processed(purchase_id, course_id, 1999, "usd", datetime.now(UTC)))
    assert await keys_of(ctx, student.user_id) == [f"purchase.refunded:{purchase_id}"]
    assert instance_stops_after_answering, "the live push is still sent off the caller's path"


async def test_a_courses_notification_is_written_for_every_student_before_the_call_returns(
    ctx, instance_stops_after_answering
):
    tutor = person("tutor")
    course_id = await course_of(ctx, tutor)
    students = [await enrolled(ctx, course_id) for _ in range(3)]
    material_id = str(uuid.uuid4())
    draft = texts.material_published(material_id, course_id, "Course", "slides.pdf", datetime.now(UTC))
    await delivery.notify_enrolled(ctx, course_id, draft, tutor_id=tutor.user_id)
    for student in students:
        assert await keys_of(ctx, student.user_id) == [f"material.published:{material_id}"]
