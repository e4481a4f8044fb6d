"""Edits by tutors and admins leave audit rows with what changed, before and after: course
edits, price changes and role changes (each field in exactly one row)."""

from __future__ import annotations

import pytest

from tests.support.content import create_course, eventually

pytestmark = pytest.mark.timeout(90)


async def _rows(api, admin, actor, action: str, count: int = 1) -> list[dict]:
    async def found():
        resp = await api.get("admin/audit", params={"actor": actor.user_id, "action": action}, headers=admin.headers)
        assert resp.status_code == 200, resp.text
        rows = resp.json()["items"]
        return rows if len(rows) >= count else None

    rows = await eventually(found, timeout=15)
    assert len(rows) == count, rows
    return rows


async def test_a_course_edit_is_audited_with_the_fields_before_and_after(api, actor):
    tutor, admin = await actor("tutor"), await actor("admin")
    course = await create_course(api, tutor, title="Old title", price_cents=1000)
    edit = await api.patch(f"courses/{course['id']}", json={"title": "New title", "description": "A course made by a test."},
                           headers=tutor.headers)
    assert edit.status_code == 200, edit.text
    [row] = await _rows(api, admin, tutor, "course.updated")
    assert row["target"] == f"course/{course['id']}" and row["actorId"] == tutor.user_id
    # Only what changed: the description was sent unchanged.
    assert row["details"] == {"before": {"title": "Old title"}, "after": {"title": "New title"}}


async def test_a_price_change_is_audited_as_its_own_action(api, actor):
    tutor, admin = await actor("tutor"), await actor("admin")
    course = await create_course(api, tutor, price_cents=1000)
    by_tutor = await api.patch(f"courses/{course['id']}", json={"priceCents": 2500, "title": "Dearer"}, headers=tutor.headers)
    assert by_tutor.status_code == 200, by_tutor.text
    by_admin = await api.patch(f"courses/{course['id']}", json={"priceCents": 0}, headers=admin.headers)
    assert by_admin.status_code == 200, by_admin.text

    [row] = await _rows(api, admin, tutor, "course.price.changed")
    assert row["details"] == {"before": {"priceCents": 1000}, "after": {"priceCents": 2500}}
    [edit] = await _rows(api, admin, tutor, "course.updated")
    assert "priceCents" not in edit["details"]["after"] and edit["details"]["after"]["title"] == "Dearer"
    [row] = await _rows(api, admin, admin, "course.price.changed")
    assert row["details"] == {"before": {"priceCents": 2500}, "after": {"priceCents": 0}}
    # An edit that changes nothing leaves no row.
    same = await api.patch(f"courses/{course['id']}", json={"priceCents": 0}, headers=admin.headers)
    assert same.status_code == 200
    await _rows(api, admin, admin, "course.price.changed")


async def test_a_role_change_is_audited_with_the_roles_before_and_after(api, actor):
    admin, tutor = await actor("admin"), await actor("tutor")
    demoted = await api.put(f"admin/users/{tutor.user_id}/roles", json={"roles": ["student"]}, headers=admin.headers)
    assert demoted.status_code == 200, demoted.text
    [row] = await _rows(api, admin, admin, "user.roles")
    assert row["target"] == f"user:{tutor.user_id}"
    assert row["details"] == {"before": ["tutor"], "after": ["student"]}
