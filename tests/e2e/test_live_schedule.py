"""A class before it starts: its tutor (or an admin) renames and reschedules it through the
API; the course's students see the change, nobody else may make it, and once the class has
started its time is history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.content import enrol, published_course
from tests.support.live import create_class, start_class

pytestmark = pytest.mark.timeout(120)


async def test_the_tutor_renames_and_reschedules_a_class_until_it_starts(api, actor):
    tutor, student, rival, admin = await actor("tutor"), await actor("student"), await actor("tutor"), await actor("admin")
    course, _ = await published_course(api, tutor)
    await enrol(api, student, course["id"])
    klass = await create_class(api, tutor, course["id"], title="Algebra")
    later = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)

    moved = await api.patch(f"classes/{klass['id']}", json={"title": "Algebra, moved", "scheduledAt": later.isoformat()},
                            headers=tutor.headers)
    assert moved.status_code == 200, moved.text
    assert moved.json()["title"] == "Algebra, moved" and datetime.fromisoformat(moved.json()["scheduledAt"]) == later
    seen = (await api.get(f"classes/{klass['id']}", headers=student.headers)).json()
    assert seen["title"] == "Algebra, moved" and datetime.fromisoformat(seen["scheduledAt"]) == later
    # An admin renames it; the time stays.
    renamed = await api.patch(f"classes/{klass['id']}", json={"title": "Algebra"}, headers=admin.headers)
    assert renamed.status_code == 200 and datetime.fromisoformat(renamed.json()["scheduledAt"]) == later

    for who in (student, rival):
        refused = await api.patch(f"classes/{klass['id']}", json={"title": "Mine now"}, headers=who.headers)
        assert refused.status_code == 403, refused.text
    # The last: a time whose UTC instant is in the year 10000, which no stored row could be read back as.
    for body in ({}, {"scheduledAt": "2026-01-01T10:00:00"}, {"title": ""}, {"title": "x", "status": "ended"},
                 {"scheduledAt": "9999-12-31T23:00:00-14:00"}):
        bad = await api.patch(f"classes/{klass['id']}", json=body, headers=tutor.headers)
        assert bad.status_code == 400, (body, bad.text)
        assert bad.headers["content-type"].startswith("application/problem+json")

    beyond = await api.post("classes", json={"courseId": course["id"], "title": "Far", "scheduledAt": "9999-12-31T23:00:00-14:00"},
                            headers=tutor.headers)
    assert beyond.status_code == 400 and "outside the years" in beyond.text, beyond.text

    # A started class keeps its time and title.
    await start_class(api, tutor, klass["id"])
    late = await api.patch(f"classes/{klass['id']}", json={"scheduledAt": later.isoformat()}, headers=tutor.headers)
    assert late.status_code == 422 and "Only a scheduled class" in late.json()["detail"]
    assert (await api.get(f"classes/{klass['id']}", headers=student.headers)).json()["title"] == "Algebra"

    audit = await api.get("admin/audit", params={"actor": tutor.user_id, "action": "class.updated"}, headers=admin.headers)
    [row] = [r for r in audit.json()["items"] if r["target"] == f"class/{klass['id']}"]
    assert row["details"]["before"]["title"] == "Algebra" and row["details"]["after"]["title"] == "Algebra, moved"
