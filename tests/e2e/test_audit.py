"""Privileged actions leave audit rows that an admin finds by actor, action and time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.support.content import create_course, eventually, publish
from tests.support.live import create_class

pytestmark = pytest.mark.timeout(60)


async def test_publish_admin_enrolment_role_change_and_moderation_are_audited(api, actor):
    tutor, admin, student = await actor("tutor"), await actor("admin"), await actor("student")
    course = await create_course(api, tutor)
    await publish(api, tutor, course["id"])
    enrolled = await api.post(f"courses/{course['id']}/enrollments", json={"userId": student.user_id}, headers=admin.headers)
    assert enrolled.status_code in (200, 201), enrolled.text
    roles = await api.put(f"admin/users/{student.user_id}/roles", json={"roles": ["student"]}, headers=admin.headers)
    assert roles.status_code == 200, roles.text
    klass = await create_class(api, tutor, course["id"])
    muted = await api.post(f"classes/{klass['id']}/moderation", json={"action": "mute", "userId": student.user_id},
                           headers=tutor.headers)
    assert muted.status_code == 200, muted.text

    async def actions_of(who) -> set[str] | None:
        resp = await api.get("admin/audit", params={"actor": who.user_id}, headers=admin.headers)
        assert resp.status_code == 200, resp.text
        return {row["action"] for row in resp.json()["items"]} or None

    tutor_actions = await eventually(lambda: actions_of(tutor))
    assert {"course.published", "class.moderation.mute"} <= tutor_actions
    admin_actions = await eventually(lambda: actions_of(admin))
    assert {"enrollment.created", "user.roles"} <= admin_actions

    only = await api.get("admin/audit", params={"actor": tutor.user_id, "action": "course.published"}, headers=admin.headers)
    assert [r["action"] for r in only.json()["items"]] == ["course.published"]
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    later = await api.get("admin/audit", params={"actor": tutor.user_id, "from": future}, headers=admin.headers)
    assert later.status_code == 200 and later.json()["items"] == []
    assert (await api.get("admin/audit", headers=tutor.headers)).status_code == 403
