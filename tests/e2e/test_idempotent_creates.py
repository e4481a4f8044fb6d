"""A create retried with the same Idempotency-Key returns the first resource; the same key
with another body is a 409 (here through the generic mechanism, on scheduling a class)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.content import create_course, publish

pytestmark = pytest.mark.timeout(60)


async def test_a_retried_class_creation_returns_the_first_class_and_a_changed_body_conflicts(api, actor):
    tutor = await actor("tutor")
    course = await create_course(api, tutor)
    await publish(api, tutor, course["id"])
    body = {"courseId": course["id"], "title": "Office hours",
            "scheduledAt": (datetime.now(UTC) + timedelta(days=2)).isoformat()}
    headers = {**tutor.headers, "Idempotency-Key": str(uuid.uuid4())}

    first = await api.post("classes", json=body, headers=headers)
    again = await api.post("classes", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers.get("idempotent-replayed") == "true"

    changed = await api.post("classes", json={**body, "title": "Something else"}, headers=headers)
    assert changed.status_code == 409
    listed = await api.get("classes", params={"courseId": course["id"]}, headers=tutor.headers)
    assert [c["id"] for c in listed.json()["items"]] == [first.json()["id"]]
