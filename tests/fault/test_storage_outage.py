"""Azurite (Table, Queue and Blob storage at once) stops while students ask for playback
URLs, each of which leaves a content-access row. With the outbox queue down too, the rows
are parked in PostgreSQL; once storage is back the drain timer writes every one of them,
exactly once."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import pytest
from azure.data.tables.aio import TableClient

from tests.support.actors import new_actor
from tests.support.content import add_lesson, create_course, enrol, publish

pytestmark = [pytest.mark.fault, pytest.mark.timeout(180)]

REQUESTS = 6
CALL_BUDGET_SECONDS = 10.0


async def _access_rows(connection_string: str, course_id: str, user_id: str) -> list[dict]:
    partition = f"{course_id}_{datetime.now(timezone.utc):%Y%m%d}"
    async with TableClient.from_connection_string(connection_string, "contentaccess") as table:
        try:
            return [dict(e) async for e in table.query_entities(
                "PartitionKey eq @pk and userId eq @user", parameters={"pk": partition, "user": user_id})]
        except Exception:  # noqa: BLE001 - no table yet means no rows
            return []


async def test_access_rows_written_while_storage_is_down_land_after_it_returns(fault_api, fault_host):
    tutor, student = await new_actor(fault_api, "tutor"), await new_actor(fault_api, "student")
    course = await create_course(fault_api, tutor)
    lesson = await add_lesson(fault_api, tutor, course["id"], title="Video", durationSeconds=60)
    await publish(fault_api, tutor, course["id"])
    await enrol(fault_api, student, course["id"])
    warm = await fault_api.get(f"lessons/{lesson['id']}/playback", headers=student.headers)
    assert warm.status_code == 200, warm.text

    fault_host.azurite.stop()
    acknowledged = 1
    for _ in range(REQUESTS):
        started = time.monotonic()
        resp = await fault_api.get(f"lessons/{lesson['id']}/playback", headers=student.headers)
        assert time.monotonic() - started < CALL_BUDGET_SECONDS
        assert resp.status_code == 200, resp.text
        acknowledged += 1
    await asyncio.sleep(1.0)
    fault_host.azurite.start()

    rows: list[dict] = []
    for _ in range(60):
        rows = await _access_rows(fault_host.azurite.connection_string, course["id"], student.user_id)
        if len(rows) >= acknowledged:
            break
        await asyncio.sleep(1.0)
    attempted = REQUESTS + 1
    keys = {r["RowKey"] for r in rows}
    lost = max(0, acknowledged - len(keys))
    duplicated = len(rows) - len(keys)
    print(f"storage outage: attempted={attempted} acknowledged={acknowledged} lost={lost} duplicated={duplicated}")
    assert lost == 0 and duplicated == 0 and len(rows) == acknowledged
