"""Enrolment: students join free courses, paid ones go through checkout, admins enrol anyone."""

from __future__ import annotations

import asyncio
import uuid

from tests.support.content import create_course, published_course


async def test_student_enrols_in_a_free_course_once_and_a_repeat_returns_the_same_enrolment(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course, lesson = await published_course(api, tutor)
    first = await api.post(f"courses/{course['id']}/enrollments", headers=student.headers)
    assert first.status_code == 201, first.text
    assert (first.json()["courseId"], first.json()["userId"], first.json()["source"]) == (course["id"], student.user_id, "self")
    again = await api.post(f"courses/{course['id']}/enrollments", json={}, headers=student.headers)
    assert again.status_code == 200 and again.json() == first.json()
    assert (await api.get(f"lessons/{lesson['id']}", headers=student.headers)).status_code == 200


async def test_concurrent_enrolments_of_one_student_make_one_enrolment(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course, _ = await published_course(api, tutor)
    responses = await asyncio.gather(
        *(api.post(f"courses/{course['id']}/enrollments", json={}, headers=student.headers) for _ in range(8))
    )
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert len({r.json()["id"] for r in responses}) == 1


async def test_a_paid_course_sends_students_to_checkout(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course, lesson = await published_course(api, tutor, price_cents=4900)
    resp = await api.post(f"courses/{course['id']}/enrollments", json={}, headers=student.headers)
    assert resp.status_code == 422
    assert "checkout" in resp.json()["detail"]
    assert (await api.get(f"lessons/{lesson['id']}", headers=student.headers)).status_code == 403


async def test_admin_enrols_anyone_into_any_course_even_a_paid_draft(api, actor):
    tutor, student, admin = await actor("tutor"), await actor("student"), await actor("admin")
    draft = await create_course(api, tutor, price_cents=9900)
    resp = await api.post(f"courses/{draft['id']}/enrollments", json={"userId": student.user_id}, headers=admin.headers)
    assert resp.status_code == 201 and resp.json()["source"] == "admin" and resp.json()["userId"] == student.user_id
    unknown = await api.post(f"courses/{draft['id']}/enrollments", json={"userId": str(uuid.uuid4())}, headers=admin.headers)
    assert unknown.status_code == 404


async def test_enrolment_is_audited(api, actor):
    tutor, student, admin = await actor("tutor"), await actor("student"), await actor("admin")
    course, _ = await published_course(api, tutor)
    await api.post(f"courses/{course['id']}/enrollments", json={}, headers=student.headers)
    resp = await api.get("admin/audit", params={"actor": student.user_id, "action": "enrollment.created"}, headers=admin.headers)
    assert resp.status_code == 200
    assert [i["target"] for i in resp.json()["items"]] == [f"course/{course['id']}/user/{student.user_id}"]


async def test_who_may_not_enrol(api, actor):
    tutor, student, other = await actor("tutor"), await actor("student"), await actor("student")
    course, _ = await published_course(api, tutor)
    draft = await create_course(api, tutor)
    assert (await api.post(f"courses/{course['id']}/enrollments", json={}, headers=tutor.headers)).status_code == 403
    someone_else = await api.post(f"courses/{course['id']}/enrollments", json={"userId": other.user_id}, headers=student.headers)
    assert someone_else.status_code == 403
    assert (await api.post(f"courses/{draft['id']}/enrollments", json={}, headers=student.headers)).status_code == 404
    assert (await api.post(f"courses/{course['id']}/enrollments", json={})).status_code == 401
