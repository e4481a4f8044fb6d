"""An endpoint that declares a relation refuses a caller without it before reading the
rest of the request: a stranger learns nothing about what the body should have held, and
the refusal names the relation in the area's own words."""

from __future__ import annotations

import uuid

from tests.support.content import add_quiz, enrol, published_course, upload_material
from tests.support.live import live_class


async def test_student_who_is_not_the_tutor_cannot_open_a_poll_even_with_a_malformed_body(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course, klass = await live_class(api, tutor)
    await enrol(api, student, course["id"])

    resp = await api.post(
        f"classes/{klass['id']}/polls", content=b"{not json", headers={**student.headers, "Content-Type": "application/json"}
    )

    assert resp.status_code == 403, resp.text
    assert "tutor" in resp.json()["detail"]


async def test_student_cannot_edit_a_lesson_whatever_the_body(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course, lesson = await published_course(api, tutor)
    await enrol(api, student, course["id"])

    resp = await api.patch(f"lessons/{lesson['id']}", json={"title": 7}, headers=student.headers)

    assert resp.status_code == 403, resp.text


async def test_stranger_is_refused_a_course_s_materials_in_the_materials_words(api, actor):
    tutor, stranger = await actor("tutor"), await actor("student")
    course, _ = await published_course(api, tutor)

    resp = await api.get(f"courses/{course['id']}/materials", params={"cursor": "not-a-cursor"}, headers=stranger.headers)

    assert resp.status_code == 403, resp.text
    assert resp.json()["detail"] == "Only students enrolled in this course, its tutor and admins may see its materials."


async def test_student_of_another_course_is_refused_a_heartbeat_whatever_the_body(api, actor):
    tutor, stranger = await actor("tutor"), await actor("student")
    _, lesson = await published_course(api, tutor)

    resp = await api.put(f"progress/lessons/{lesson['id']}", json={"positionSeconds": "far"}, headers=stranger.headers)

    assert resp.status_code == 403, resp.text
    assert resp.json()["detail"] == "Only students enrolled in this course record progress."


async def test_student_of_another_course_is_refused_a_quiz_attempt_before_its_answers_or_key_are_read(api, actor):
    tutor, stranger = await actor("tutor"), await actor("student")
    course, _ = await published_course(api, tutor)
    quiz = await add_quiz(api, tutor, course["id"])

    resp = await api.post(f"quizzes/{quiz['id']}/attempts", json={"answers": "all"}, headers=stranger.headers)

    assert resp.status_code == 403, resp.text
    assert resp.json()["detail"] == "Only students enrolled in this course may do this."


async def test_an_unpublished_material_is_not_found_for_a_member_and_refused_only_for_want_of_state_to_its_tutor(
    api, actor
):
    tutor, student, stranger = await actor("tutor"), await actor("student"), await actor("student")
    course, _ = await published_course(api, tutor)
    await enrol(api, student, course["id"])
    grant = await upload_material(api, tutor, course["id"], b"%PDF-1.4 draft", file_name="d.pdf",
                                  content_type="application/pdf")

    for who in (student, stranger):
        hidden = await api.get(f"materials/{grant['materialId']}/download", headers=who.headers)
        assert hidden.status_code == 404, hidden.text
    own = await api.get(f"materials/{grant['materialId']}/download", headers=tutor.headers)
    assert own.status_code == 422, own.text
    assert (await api.post(f"materials/{grant['materialId']}/publish", headers=tutor.headers)).status_code == 200
    assert (await api.get(f"materials/{grant['materialId']}/download", headers=stranger.headers)).status_code == 403
    assert (await api.get(f"materials/{grant['materialId']}/download", headers=student.headers)).status_code == 200


async def test_a_class_for_a_course_named_in_the_body_needs_that_course_s_tutor(api, actor):
    owner, other_tutor = await actor("tutor"), await actor("tutor")
    course, _ = await published_course(api, owner)
    body = {"courseId": course["id"], "title": "Borrowed", "scheduledAt": "2030-01-01T10:00:00Z"}

    refused = await api.post("classes", json=body, headers=other_tutor.headers)
    unknown = await api.post("classes", json={**body, "courseId": str(uuid.uuid4())}, headers=owner.headers)
    listed = await api.get("classes", params={"courseId": course["id"]}, headers=other_tutor.headers)

    assert refused.status_code == 403 and refused.json()["detail"] == "Only the course's tutor and admins may do this.", refused.text
    assert unknown.status_code == 404, unknown.text
    assert listed.status_code == 403, listed.text
    assert (await api.post("classes", json=body, headers=owner.headers)).status_code == 201
