"""An endpoint that declares a relation refuses a caller without it before reading the
rest of the request: a stranger learns nothing about what the body should have held, and
the refusal names the relation in the area's own words."""

from __future__ import annotations

from tests.support.content import enrol, published_course
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
