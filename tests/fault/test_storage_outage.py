"""Azurite (Table, Queue and Blob storage at once) stops while students ask for playback
URLs, each of which leaves a content-access row, and while an admin changes roles, each
of which leaves an audit row before the answer. With the outbox queue down too, the rows
are parked in PostgreSQL; once storage is back the drain timer writes every one of them,
exactly once. The breakers keep the answers quick while storage is away, and the host
recovers without a restart."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables.aio import TableClient

from shared_code.adapters import tables as tables_adapter
from tests.fault.conftest import Timings
from tests.support.actors import new_actor
from tests.support.content import add_lesson, create_course, enrol, publish

pytestmark = [pytest.mark.fault, pytest.mark.timeout(180)]

REQUESTS = 6
ROLE_CHANGES = 6
CALL_BUDGET_SECONDS = 10.0


async def _access_rows(connection_string: str, course_id: str, user_id: str) -> list[dict]:
    partition = f"{course_id}_{datetime.now(UTC):%Y%m%d}"
    async with TableClient.from_connection_string(connection_string, "contentaccess") as table:
        try:
            return [dict(e) async for e in table.query_entities(
                "PartitionKey eq @pk and userId eq @user", parameters={"pk": partition, "user": user_id})]
        except ResourceNotFoundError:  # no table yet means no rows
            return []


async def _audit_rows(connection_string: str, actor_id: str) -> list[dict]:
    async with TableClient.from_connection_string(connection_string, "audit") as table:
        try:
            return [dict(e) async for e in table.query_entities(
                "actorId eq @actor and action eq 'user.roles'", parameters={"actor": actor_id})]
        except ResourceNotFoundError:  # no table yet means no rows
            return []


async def test_access_rows_written_while_storage_is_down_land_after_it_returns(fault_api, fault_host):
    tutor, student = await new_actor(fault_api, "tutor"), await new_actor(fault_api, "student")
    course = await create_course(fault_api, tutor)
    lesson = await add_lesson(fault_api, tutor, course["id"], title="Video", durationSeconds=60)
    await publish(fault_api, tutor, course["id"])
    await enrol(fault_api, student, course["id"])
    warm = await fault_api.get(f"lessons/{lesson['id']}/playback", headers=student.headers)
    assert warm.status_code == 200, warm.text

    admin, others = await new_actor(fault_api, "admin"), [await new_actor(fault_api, "student") for _ in range(ROLE_CHANGES)]

    pid = fault_host.process.pid
    fault_host.azurite.stop()
    playback, roles = Timings("playback while storage is down"), Timings("audited role changes while storage is down")
    acknowledged = 1
    for _ in range(REQUESTS):
        started = time.monotonic()
        resp = await fault_api.get(f"lessons/{lesson['id']}/playback", headers=student.headers)
        playback.add(time.monotonic() - started)
        assert playback.slowest < CALL_BUDGET_SECONDS
        assert resp.status_code == 200, resp.text
        acknowledged += 1
    changed = 0
    for other in others:
        started = time.monotonic()
        resp = await fault_api.put(f"admin/users/{other.user_id}/roles", json={"roles": ["student", "tutor"]},
                                   headers=admin.headers)
        roles.add(time.monotonic() - started)
        assert roles.slowest < CALL_BUDGET_SECONDS
        assert resp.status_code == 200, resp.text
        changed += 1
    await asyncio.sleep(1.0)
    fault_host.azurite.start()

    rows: list[dict] = []
    for _ in range(60):
        rows = await _access_rows(fault_host.azurite.connection_string, course["id"], student.user_id)
        if len(rows) >= acknowledged:
            break
        await asyncio.sleep(1.0)
    audit: list[dict] = []
    for _ in range(30):
        audit = await _audit_rows(fault_host.azurite.connection_string, admin.user_id)
        if len(audit) >= changed:
            break
        await asyncio.sleep(1.0)
    attempted = REQUESTS + 1 + ROLE_CHANGES
    keys = {r["RowKey"] for r in rows}
    targets = [r["target"] for r in audit]
    lost = max(0, acknowledged - len(keys)) + len({f"user:{o.user_id}" for o in others} - set(targets))
    duplicated = len(rows) - len(keys) + len(targets) - len(set(targets))
    print(f"storage outage: attempted={attempted} acknowledged={acknowledged + changed} lost={lost} "
          f"duplicated={duplicated} (access rows {len(rows)}, audit rows {len(audit)}; {playback.summary()}; "
          f"{roles.summary()})")
    assert lost == 0 and duplicated == 0 and len(rows) == acknowledged and len(audit) == changed
    # Once the breakers are open, an audited write no longer waits on storage at all.
    # (half the Table client's timeout: a call that waited on storage could not pass)
    assert max(roles.after_first(2)) < tables_adapter.TIMEOUT_SECONDS / 2, roles.summary()
    assert fault_host.process.poll() is None and fault_host.process.pid == pid, "recovered without a host restart"
