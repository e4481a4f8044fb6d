"""The host dies right after students join a live class, before it has written their
attendance rows. The rows wait in Redis, where the join put them, so once a host runs
again its parked-effects timer writes every one: none lost, none written twice."""

from __future__ import annotations

import aiohttp
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables.aio import TableClient

from shared_code.services.live import attendance_rows
from tests.fault.conftest import FaultHost
from tests.support.actors import new_actor
from tests.support.content import create_course, enrol, eventually, publish
from tests.support.live import close_all, create_class, join_all, start_class

pytestmark = [pytest.mark.fault, pytest.mark.timeout(180)]

STUDENTS = 4
NEVER = "0 0 0 1 1 *"  # once a year: this host's timer cannot write the rows before it dies


async def _stored(host: FaultHost, class_id: str) -> tuple[int, int]:
    """(rows in the class's entities, of them distinct by connection and kind)."""
    async with TableClient.from_connection_string(host.azurite.connection_string, "attendance") as table:
        try:
            entities = [dict(e) async for e in table.query_entities("PartitionKey eq @c", parameters={"c": class_id})]
        except ResourceNotFoundError:
            return 0, 0
    return sum(len(attendance_rows.rows_of(e)) for e in entities), len(attendance_rows.unique_rows(entities))


async def test_attendance_rows_outlive_a_host_killed_before_it_wrote_them(fault_api, fault_host):
    # This host lets rows gather for a minute and runs no timer: it dies holding them.
    fault_host.kill()
    fault_host.start(LECTERN_ATTENDANCE_FLUSH_SECONDS="60", LECTERN_PARKED_DRAIN_SCHEDULE=NEVER)
    tutor = await new_actor(fault_api, "tutor")
    course = await create_course(fault_api, tutor)
    await publish(fault_api, tutor, course["id"])
    students = [await new_actor(fault_api, "student") for _ in range(STUDENTS)]
    for student in students:
        await enrol(fault_api, student, course["id"])
    class_id = (await create_class(fault_api, tutor, course["id"]))["id"]
    await start_class(fault_api, tutor, class_id)

    async with aiohttp.ClientSession() as session:
        clients = await join_all(fault_api, session, students, class_id)
        fault_host.kill()
        assert await _stored(fault_host, class_id) == (0, 0), "the killed host wrote nothing"

        fault_host.start()  # as deployed: its timer runs every ten seconds

        async def joins_written() -> dict | None:
            resp = await fault_api.get(f"classes/{class_id}/attendance", headers=tutor.headers)
            assert resp.status_code == 200, resp.text
            body = resp.json()
            return body if len([r for r in body["rows"] if r["kind"] == "join"]) >= STUDENTS else None

        report = await eventually(joins_written, timeout=60, interval=1)
        await close_all(clients)

    joined = {r["userId"] for r in report["rows"] if r["kind"] == "join"}
    stored, distinct = await _stored(fault_host, class_id)
    print(f"host killed before its attendance write: attempted={STUDENTS} acknowledged={len(clients)} "
          f"lost={STUDENTS - len(joined)} duplicated={stored - distinct}")
    assert joined == {s.user_id for s in students}
    assert {s["name"] for s in report["students"]} == {s.name for s in students}
    assert stored == distinct
