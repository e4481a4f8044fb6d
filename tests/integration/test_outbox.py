"""The outbox against real Azurite, PostgreSQL and a redis-server each test owns.

The queue trigger's work is done here by calling `outbox.retry` on messages received from
the real queue, exactly as `functions/retries.py` does: an effect that fails goes to the
queue with a growing delay, is retried and succeeds once its dependency is back; one that
keeps failing ends in the poison queue with its reason, where an admin lists it and
replays it; a message delivered twice does no harm; with Storage unreachable too, the
effect waits in PostgreSQL and reaches the queue or its target once Storage is back.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables.aio import TableClient
from azure.storage.queue import BinaryBase64DecodePolicy
from azure.storage.queue.aio import QueueClient

from shared_code.adapters.postgres import pending_effects
from shared_code.adapters.postgres import users as users_sql
from shared_code.adapters.redis import keys
from shared_code.bootstrap import build_context
from shared_code.context import AppContext
from shared_code.models.content import CourseCreate, CourseUpdate, EnrollmentRequest
from shared_code.platform import audit, outbox
from shared_code.platform.users import ensure_user
from shared_code.services.admin import operations as admin
from shared_code.services.content import access_log, courses, enrollments
from shared_code.settings import Settings
from tests.integration.conftest import person

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

# A storage account nobody listens on: Storage "down" without stopping the shared Azurite.
UNREACHABLE_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"
)


def _settings(stack, migrated: str, redis_url: str, queue: str, *, storage: str | None = None) -> Settings:
    return Settings(
        environment="test",
        postgres_url=migrated,
        postgres_pool_max=4,
        redis_url=redis_url,
        storage_connection_string=storage or stack.storage_connection_string,
        webpubsub_connection_string=stack.pubsub_connection_string,
        jwt_dev_secret="integration-only-secret-integration-only-secret",
        outbox_queue=queue,
    )


@pytest.fixture
async def box(stack, migrated, redis_server) -> AsyncIterator[AppContext]:
    """A context with an outbox queue of its own, so no running host takes its messages."""
    ctx = await build_context(_settings(stack, migrated, redis_server.url, f"outbox-it-{uuid.uuid4().hex[:10]}"))
    yield ctx
    await ctx.background.drain()
    await ctx.close()


async def _receive(ctx: AppContext, queue: str, *, wait: float) -> tuple[dict | None, float]:
    """The next visible message of `queue` (removed, as the trigger would on success) and
    how long it took to become visible."""
    started = time.monotonic()
    async with QueueClient.from_connection_string(
        ctx.settings.storage_connection_string.get_secret_value(), queue, message_decode_policy=BinaryBase64DecodePolicy()
    ) as client:
        while time.monotonic() - started < wait:
            async for msg in client.receive_messages(max_messages=1, visibility_timeout=30):
                await client.delete_message(msg)
                return json.loads(msg.content), time.monotonic() - started
            await asyncio.sleep(0.1)
    return None, time.monotonic() - started


async def _enrolled_in_redis(ctx: AppContext, course_id: str, user_id: str) -> bool:
    return await ctx.redis.get(keys.content_member(course_id, user_id)) == "1"


async def _enrolment(ctx: AppContext) -> tuple[str, str]:
    """A student enrolled in a course, with no membership cached yet: the membership mark
    these tests retry writes what PostgreSQL holds."""
    tutor, student = person("tutor"), person("student")
    _, course = await courses.create_course(ctx, tutor, CourseCreate(title="Outbox", description="d"), idempotency_key=None)
    course_id = str(course["id"])
    await courses.update_course(ctx, tutor, course_id, CourseUpdate(published=True))
    await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())
    await ctx.redis.delete(keys.content_member(course_id, student.user_id))
    return course_id, student.user_id


async def test_a_failed_effect_is_queued_retried_with_growing_delays_and_succeeds_when_redis_returns(box, redis_server):
    course_id, user_id = await _enrolment(box)
    payload = {"courseId": course_id, "userId": user_id}
    redis_server.kill()

    assert await outbox.perform(box, "cache.mark_enrolled", payload) is False

    first, waited = await _receive(box, box.settings.outbox_queue, wait=10)
    assert first is not None and first["kind"] == "cache.mark_enrolled" and first["payload"] == payload
    assert first["attempt"] == 1 and "ConnectionError" in first["reason"]
    assert waited >= outbox.backoff_seconds(1) - 0.5, "the first retry waits its back-off"

    assert await outbox.retry(box, first) == "requeued"  # Redis still down
    second, waited = await _receive(box, box.settings.outbox_queue, wait=12)
    assert second is not None and second["attempt"] == 2
    assert waited >= outbox.backoff_seconds(2) - 0.5, "each retry waits longer than the one before"

    redis_server.start()
    await asyncio.sleep(outbox_cooldown(box))
    assert await outbox.retry(box, second) == "done"
    assert await _enrolled_in_redis(box, course_id, user_id)
    # Delivered once more (a queue may deliver twice): no harm, the same state.
    assert await outbox.retry(box, second) == "done"
    assert await _enrolled_in_redis(box, course_id, user_id)


def outbox_cooldown(ctx: AppContext) -> float:
    """Long enough for the process's Redis breaker to let a probe through again."""
    return ctx.redis.connection_pool.breaker.cooldown + 0.2


async def test_an_effect_that_keeps_failing_is_poisoned_with_its_reason_listed_and_replayed(
    box, redis_server, monkeypatch
):
    # Back-off delays are what the previous test checks; here they would only make it slow.
    monkeypatch.setattr(outbox, "BASE_DELAY_SECONDS", 0)
    course_id, user_id = await _enrolment(box)
    redis_server.kill()
    await outbox.perform(box, "cache.mark_enrolled", {"courseId": course_id, "userId": user_id})

    outcomes = []
    while True:
        message, _ = await _receive(box, box.settings.outbox_queue, wait=10)
        assert message is not None, f"the message vanished after {outcomes}"
        outcome = await outbox.retry(box, message)
        outcomes.append(outcome)
        if outcome == "poisoned":
            break
    assert outcomes == ["requeued"] * (outbox.MAX_ATTEMPTS - 1) + ["poisoned"]

    letters = await admin.list_dead_letters(box, 32)
    assert len(letters) == 1
    dead = letters[0]
    assert dead.kind == "cache.mark_enrolled" and dead.attempt == outbox.MAX_ATTEMPTS
    assert "ConnectionError" in dead.reason and dead.payload == {"courseId": course_id, "userId": user_id}

    redis_server.start()
    await asyncio.sleep(outbox_cooldown(box))
    operator = person("admin")
    result = await admin.replay_dead_letter(box, operator, dead.message_id)
    assert result.queue == box.settings.outbox_queue
    assert await admin.list_dead_letters(box, 32) == []

    replayed, _ = await _receive(box, box.settings.outbox_queue, wait=10)
    assert replayed is not None and replayed["attempt"] == 1 and replayed["reason"].startswith("replayed by admin")
    assert await outbox.retry(box, replayed) == "done"
    assert await _enrolled_in_redis(box, course_id, user_id)


async def test_replaying_one_dead_letter_leaves_the_others_listed(box, monkeypatch):
    monkeypatch.setattr(outbox, "BASE_DELAY_SECONDS", 0)
    for n in range(3):
        message = {"id": str(uuid.uuid4()), "kind": "no.such.effect", "payload": {"n": n}, "attempt": 1, "reason": "test"}
        assert await outbox.retry(box, message) == "poisoned"  # an unknown kind is never retried
    letters = await admin.list_dead_letters(box, 32)
    assert sorted(d.payload["n"] for d in letters) == [0, 1, 2]
    assert all("unknown effect kind" in d.reason for d in letters)

    await admin.replay_dead_letter(box, person("admin"), letters[1].message_id)
    left = await admin.list_dead_letters(box, 32)
    assert sorted(d.payload["n"] for d in left) == sorted(d.payload["n"] for d in (letters[0], letters[2]))


async def test_an_audit_row_retried_twice_is_written_once_and_never_changed(box):
    operator = person("admin")
    entity = audit.audit_entity(operator, "test.audit", "thing/1", {"n": 1})
    payload = {"table": box.settings.audit_table, "entity": entity}
    assert await outbox.perform(box, "table.insert", payload) is True
    # A retry of the same message, and a forged one that tries to rewrite the row.
    message = {"id": str(uuid.uuid4()), "kind": "table.insert", "payload": payload, "attempt": 2, "reason": "test"}
    assert await outbox.retry(box, message) == "done"
    forged = {**message, "payload": {"table": box.settings.audit_table, "entity": {**entity, "action": "changed"}}}
    assert await outbox.retry(box, forged) == "done"

    async with TableClient.from_connection_string(
        box.settings.storage_connection_string.get_secret_value(), box.settings.audit_table
    ) as table:
        rows = [e async for e in table.query_entities(
            "PartitionKey eq @pk and RowKey eq @rk", parameters={"pk": entity["PartitionKey"], "rk": entity["RowKey"]})]
    assert len(rows) == 1 and rows[0]["action"] == "test.audit"


def _queued(kind: str, table: str, entity: dict) -> dict:
    """A queue message of a row whose first write failed."""
    return {"id": str(uuid.uuid4()), "kind": kind, "attempt": 2, "reason": "test", "payload": {"table": table, "entity": entity}}


async def _erase(ctx: AppContext, user_id: str) -> None:
    async with ctx.db.transaction() as conn:
        assert await users_sql.erase(conn, user_id, "Deleted user")


async def _stored(ctx: AppContext, table_name: str, entity: dict) -> dict:
    async with TableClient.from_connection_string(
        ctx.settings.storage_connection_string.get_secret_value(), table_name
    ) as table:
        return dict(await table.get_entity(entity["PartitionKey"], entity["RowKey"]))


async def test_an_audit_row_that_waited_past_its_actors_erasure_lands_without_the_name(box):
    operator = person("admin")
    await ensure_user(box, operator)
    entity = audit.audit_entity(operator, "test.audit", "thing/2", {"n": 2})
    queued = _queued("audit.insert", box.settings.audit_table, entity)
    await _erase(box, operator.user_id)

    assert await outbox.retry(box, queued) == "done"

    row = await _stored(box, box.settings.audit_table, entity)
    assert row["actorName"] == "Deleted user" and row["actorId"] == operator.user_id and row["action"] == "test.audit"


async def test_an_access_row_that_waited_past_its_readers_erasure_lands_without_the_user_agent(box):
    reader = person("student")
    await ensure_user(box, reader)
    opened = datetime.now(UTC) - timedelta(minutes=3)  # its first attempt failed three minutes ago
    entity = access_log.access_entity(course_id=str(uuid.uuid4()), user_id=reader.user_id, kind="playback",
                                      target_id=str(uuid.uuid4()), user_agent="Firefox on the reader's laptop",
                                      expires_at=opened + timedelta(minutes=10), at=opened)
    queued = _queued("access.upsert", box.settings.access_log_table, entity)
    await _erase(box, reader.user_id)

    assert await outbox.retry(box, queued) == "done"

    row = await _stored(box, box.settings.access_log_table, entity)
    assert row["userAgent"] == "" and row["userId"] == reader.user_id and row["kind"] == "playback"


async def _parked(ctx: AppContext, row_key: str) -> list[dict]:
    async with ctx.db.connection() as conn:
        cur = await conn.execute("SELECT kind, reason, attempts FROM pending_effects WHERE payload @> %s::jsonb",
                                 (json.dumps({"entity": {"RowKey": row_key}}),))
        return await cur.fetchall()


async def test_with_storage_unreachable_the_effect_waits_in_postgresql_then_lands(stack, migrated, redis_server):
    queue = f"outbox-it-{uuid.uuid4().hex[:10]}"
    row_key = f"parked-{uuid.uuid4().hex}"
    payload = {"table": "changelog", "entity": {"PartitionKey": "outbox-test", "RowKey": row_key, "note": "parked"}}
    down = await build_context(_settings(stack, migrated, redis_server.url, queue, storage=UNREACHABLE_STORAGE))
    try:
        started = time.monotonic()
        assert await outbox.perform(down, "table.upsert", payload) is False
        assert time.monotonic() - started < 15
        rows = await _parked(down, row_key)
        assert len(rows) == 1 and rows[0]["kind"] == "table.upsert" and rows[0]["reason"]
        # An instance that still cannot reach Storage leaves it parked, with a later retry.
        await outbox.drain_parked(down)
        rows = await _parked(down, row_key)
        assert len(rows) == 1 and rows[0]["attempts"] == 1
    finally:
        await down.close()

    up = await build_context(_settings(stack, migrated, redis_server.url, queue))
    try:
        deadline = time.monotonic() + 15
        while await _parked(up, row_key) and time.monotonic() < deadline:
            await outbox.drain_parked(up)  # as the drain timer does, every few seconds
            await asyncio.sleep(0.5)
        assert await _parked(up, row_key) == []
        async with TableClient.from_connection_string(stack.storage_connection_string, "changelog") as table:
            entity = await table.get_entity("outbox-test", row_key)
        assert entity["note"] == "parked"
    finally:
        await up.close()


async def test_one_drain_run_takes_a_backlog_larger_than_its_batch(box):
    """After a long Storage outage the parked effects go in one run, batch after batch,
    not one batch per run of the timer."""
    ids = [str(uuid.uuid4()) for _ in range(7)]
    async with box.db.connection() as conn:
        for effect_id in ids:
            await pending_effects.park(conn, effect_id, "dashboard.invalidate", {"userId": str(uuid.uuid4())}, "test")

    finished, still_parked = await outbox.drain_parked(box, limit=2)

    assert finished >= len(ids) and still_parked == 0
    async with box.db.connection() as conn:
        cur = await conn.execute("SELECT count(*) AS n FROM pending_effects WHERE id = ANY(%s::uuid[])", (ids,))
        assert (await cur.fetchone())["n"] == 0
