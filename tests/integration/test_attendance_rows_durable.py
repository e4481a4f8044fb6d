"""Attendance rows are never only in a process's memory: the presence scripts leave each
join and leave row in the class's Redis stream in the step that changes presence, and a
process writes them to Table storage a moment later. A process that dies before that
loses none: the parked-effects timer (`attendance.recover`) writes rows nobody took, and
takes over rows another process took and never finished once they have waited long
enough. A join row carries the name the class holds when it is written, so an erasure in
between is honoured."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from shared_code.adapters.postgres import users as users_sql
from shared_code.adapters.redis import keys
from shared_code.adapters.redis import live_attendance as attendance_redis
from shared_code.adapters.redis import live_presence as presence_redis
from shared_code.adapters.redis import privacy as privacy_redis
from shared_code.context import AppContext
from shared_code.platform import outbox
from shared_code.services.live import attendance, attendance_rows, presence
from shared_code.services.privacy import table_sections
from shared_code.services.privacy.sections import ERASED_NAME, Subject
from tests.integration.test_round_trips import started_class

pytestmark = pytest.mark.timeout(120)


async def _rows(ctx: AppContext, class_id: str) -> dict[str, dict]:
    entities = [e async for e in ctx.tables.query(ctx.settings.attendance_table, "PartitionKey eq @pk", {"pk": class_id})]
    return {f"{row['connectionId']}:{row['kind']}": row for row in attendance_rows.unique_rows(entities)}


async def _waiting(ctx: AppContext, class_id: str) -> int:
    return int(await ctx.redis.xlen(keys.live_attendance(class_id)))


async def test_rows_of_a_process_that_died_before_its_flush_are_written_by_the_timer(ctx: AppContext):
    _, _, class_id, student = await started_class(ctx)
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    # The join and leave scripts ran in a process that died before its flush: no process
    # has the class noted, the rows are only in the stream.
    await presence_redis.join(ctx.redis, class_id, first, student.user_id, student.name)
    await presence_redis.join(ctx.redis, class_id, second, student.user_id, student.name)
    await presence_redis.leave(ctx.redis, class_id, first)
    assert await _waiting(ctx, class_id) == 3
    assert await _rows(ctx, class_id) == {}

    assert await attendance.recover(ctx) == 3
    rows = await _rows(ctx, class_id)
    assert set(rows) == {f"{first}:join", f"{first}:leave", f"{second}:join"}
    assert rows[f"{first}:join"]["userName"] == student.name and rows[f"{first}:leave"]["userName"] == ""
    assert {r["userId"] for r in rows.values()} == {student.user_id}
    assert rows[f"{first}:join"]["at"] <= rows[f"{first}:leave"]["at"]
    assert await _waiting(ctx, class_id) == 0
    # Nothing is written twice: a second run finds nothing.
    assert await attendance.recover(ctx) == 0


async def test_rows_another_process_took_and_never_finished_wait_before_the_timer_takes_them(ctx: AppContext):
    _, _, class_id, student = await started_class(ctx)
    connection = uuid.uuid4().hex
    await presence_redis.join(ctx.redis, class_id, connection, student.user_id, student.name)
    taken = await attendance_redis.take(ctx.redis, class_id, "a-process-that-died", count=100)
    assert [(r.kind, r.connection_id) for r in taken] == [("join", connection)]

    # Still being written, as far as anyone can tell: the timer leaves it to its taker.
    assert await attendance.recover(ctx) == 0
    assert await _rows(ctx, class_id) == {}

    await asyncio.sleep(0.2)
    assert await attendance.recover(ctx, abandoned_after_ms=100) == 1
    assert set(await _rows(ctx, class_id)) == {f"{connection}:join"}
    assert await _waiting(ctx, class_id) == 0


async def test_the_timer_writes_the_rows_of_classes_past_its_first_page(ctx: AppContext):
    """Every running class is looked at, a page at a time (here a page of one): a class past
    the first page is not left out run after run."""
    waiting: dict[str, str] = {}
    for _ in range(3):
        _, _, class_id, student = await started_class(ctx)
        connection = uuid.uuid4().hex
        await presence_redis.join(ctx.redis, class_id, connection, student.user_id, student.name)
        waiting[class_id] = connection

    assert await attendance.recover(ctx, page_size=1) >= 3
    for class_id, connection in waiting.items():
        assert set(await _rows(ctx, class_id)) == {f"{connection}:join"}
        assert await _waiting(ctx, class_id) == 0


async def test_a_join_row_written_after_an_erasure_carries_no_name(ctx: AppContext):
    _, _, class_id, student = await started_class(ctx)
    connection = uuid.uuid4().hex
    await presence_redis.join(ctx.redis, class_id, connection, student.user_id, student.name)
    await privacy_redis.scrub_class(ctx.redis, class_id, student.user_id, ERASED_NAME, "deleted")

    assert await attendance.write_pending(ctx, class_id, ctx.attendance_rows.consumer) == 1
    assert (await _rows(ctx, class_id))[f"{connection}:join"]["userName"] == ERASED_NAME


async def test_a_write_queued_before_an_erasure_lands_without_the_name(ctx: AppContext):
    # The rows' write failed (Storage was down) and waited in the queue; the student was
    # erased before its retry ran, so the erasure's rename found nothing to rename.
    _, _, class_id, student = await started_class(ctx)
    connection = uuid.uuid4().hex
    row = attendance_rows.row_entity(class_id, user_id=student.user_id, user_name=student.name,
                                     connection_id=connection, kind="join", at="2026-12-06T10:00:00.000Z")
    queued = {"id": str(uuid.uuid4()), "kind": attendance.ATTENDANCE_EFFECT, "attempt": 2, "reason": "test",
              "payload": {"table": ctx.settings.attendance_table,
                          "entities": attendance_rows.chunk_entities(class_id, ["1-0"], [row])}}
    async with ctx.db.transaction() as conn:
        assert await users_sql.erase(conn, student.user_id, ERASED_NAME)

    assert await outbox.retry(ctx, queued) == "done"

    assert (await _rows(ctx, class_id))[f"{connection}:join"]["userName"] == ERASED_NAME


async def test_a_process_writes_its_own_rows_a_moment_after_the_join(ctx: AppContext):
    _, _, class_id, student = await started_class(ctx)
    connection = uuid.uuid4().hex
    await presence.joined(ctx, class_id, connection, student.user_id, student.name)
    await ctx.attendance_rows.drain(ctx)
    assert set(await _rows(ctx, class_id)) == {f"{connection}:join"}
    assert await _waiting(ctx, class_id) == 0


async def test_a_storm_of_joins_is_a_few_entities_and_every_row_counts(ctx: AppContext):
    _, _, class_id, student = await started_class(ctx)
    connections = [uuid.uuid4().hex for _ in range(250)]
    for connection in connections:
        await presence_redis.join(ctx.redis, class_id, connection, student.user_id, student.name)
    assert await attendance.write_pending(ctx, class_id, ctx.attendance_rows.consumer) == 250

    entities = [e async for e in ctx.tables.query(ctx.settings.attendance_table, "PartitionKey eq @pk", {"pk": class_id})]
    assert len(entities) == 3, "a hundred rows to an entity"
    report = await attendance.attendance_summary(ctx, class_id)
    assert {r.connection_id for r in report.rows} == set(connections)
    assert [(s.user_id, s.connections, s.present) for s in report.students] == [(uuid.UUID(student.user_id), 250, True)]


async def test_rows_with_long_names_split_into_entities_table_storage_takes(ctx: AppContext):
    _, _, class_id, _ = await started_class(ctx)
    long_name = "Ünïcödé " * 25  # 200 characters, escaped in the JSON
    users = [str(uuid.uuid4()) for _ in range(100)]
    for user in users:
        await presence_redis.join(ctx.redis, class_id, uuid.uuid4().hex, user, long_name)
    assert await attendance.write_pending(ctx, class_id, ctx.attendance_rows.consumer) == 100

    entities = [e async for e in ctx.tables.query(ctx.settings.attendance_table, "PartitionKey eq @pk", {"pk": class_id})]
    assert len(entities) > 1
    report = await attendance.attendance_summary(ctx, class_id)
    assert {str(s.user_id) for s in report.students} == set(users)
    assert {s.name for s in report.students} == {long_name}


async def test_an_erasure_writes_the_rows_still_waiting_before_it_renames(ctx: AppContext):
    _, _, class_id, student = await started_class(ctx)
    connection = uuid.uuid4().hex
    await presence_redis.join(ctx.redis, class_id, connection, student.user_id, student.name)

    assert await table_sections.erase_attendance(ctx, Subject(student.user_id, class_ids=(class_id,))) == 1
    assert await _waiting(ctx, class_id) == 0
    assert (await _rows(ctx, class_id))[f"{connection}:join"]["userName"] == ERASED_NAME
