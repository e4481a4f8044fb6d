"""The outbox queue through the real host: a retried effect happens; one that keeps
failing lands in the poison queue with its reason, an admin sees it, replays it, and the
replay is audited."""

from __future__ import annotations

import json
import uuid

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables.aio import TableClient
from azure.storage.queue import BinaryBase64EncodePolicy
from azure.storage.queue.aio import QueueClient

from tests.support.content import eventually

pytestmark = pytest.mark.timeout(90)


async def _enqueue(stack, body: dict) -> None:
    async with QueueClient.from_connection_string(
        stack.storage_connection_string, "outbox", message_encode_policy=BinaryBase64EncodePolicy()
    ) as queue:
        try:
            await queue.create_queue()
        except ResourceExistsError:  # it usually exists
            pass
        await queue.send_message(json.dumps(body).encode())


async def test_a_queued_effect_is_retried_by_the_queue_trigger(stack):
    row = f"retry-{uuid.uuid4().hex}"
    await _enqueue(stack, {
        "id": str(uuid.uuid4()), "kind": "table.upsert", "attempt": 1, "reason": "test: failed once",
        "payload": {"table": "changelog", "entity": {"PartitionKey": "outbox-test", "RowKey": row, "note": "retried"}},
    })

    async def landed():
        async with TableClient.from_connection_string(stack.storage_connection_string, "changelog") as table:
            try:
                return await table.get_entity("outbox-test", row)
            except ResourceNotFoundError:  # not there yet
                return None

    entity = await eventually(landed, timeout=30)
    assert entity["note"] == "retried"


async def test_an_effect_that_keeps_failing_is_poisoned_listed_and_replayed(api, actor, stack):
    admin, student = await actor("admin"), await actor("student")
    marker = uuid.uuid4().hex
    await _enqueue(stack, {
        "id": marker, "kind": "table.upsert", "attempt": 5, "reason": "test: failed four times",
        "payload": {"table": "no-such-table!", "entity": {"PartitionKey": "p", "RowKey": marker}},
    })

    async def listed():
        resp = await api.get("admin/deadletters", headers=admin.headers)
        assert resp.status_code == 200, resp.text
        return next((d for d in resp.json()["items"] if (d.get("payload") or {}).get("entity", {}).get("RowKey") == marker), None)

    dead = await eventually(listed, timeout=30)
    assert dead["kind"] == "table.upsert" and dead["reason"] and dead["attempt"] == 5

    assert (await api.get("admin/deadletters", headers=student.headers)).status_code == 403
    replayed = await api.post(f"admin/deadletters/{dead['messageId']}/replay", headers=admin.headers)
    assert replayed.status_code == 200, replayed.text
    assert (await api.post(f"admin/deadletters/{dead['messageId']}/replay", headers=admin.headers)).status_code == 404

    async def audited():
        resp = await api.get("admin/audit", params={"action": "deadletter.replay", "actor": admin.user_id},
                             headers=admin.headers)
        assert resp.status_code == 200, resp.text
        return resp.json()["items"] or None

    rows = await eventually(audited, timeout=15)
    assert rows[0]["actorId"] == admin.user_id and dead["messageId"] in rows[0]["target"]
