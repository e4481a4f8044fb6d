"""The demo seed (`python -m shared_code.seed`) makes a course a student can complete end to
end on the local stack: the video by watching, the document lesson by downloading the
published reading it names, the quiz lesson by passing its quiz; then the certificate, with
its code on the dashboard. A course seeded before document lessons named their material
is linked on the next run."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared_code import seed as seed_module
from tests.support.actors import Actor
from tests.support.completion import course_entry, rendered_certificate
from tests.support.content import enrol
from tests.support.progress import enrolled_earlier

pytestmark = pytest.mark.timeout(180)

DEMO_ANSWERS = [[1], [0, 1]]  # the seeded quiz: the mean of 2, 4, 6; Python's data structures


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def complete_demo_course(api, stack, student: Actor, course_id: str, tutor_token: str) -> None:
    await enrol(api, student, course_id)
    lessons = {lesson["kind"]: lesson for lesson in (await api.get(f"courses/{course_id}", headers=student.headers)).json()["lessons"]}
    assert set(lessons) == {"video", "document", "quiz"}

    material_id = lessons["document"]["materialId"]
    assert material_id, "the demo's document lesson names no material"
    listed = (await api.get(f"courses/{course_id}/materials", headers=student.headers)).json()["items"]
    assert material_id in [m["id"] for m in listed]  # published
    assert (await api.get(f"materials/{material_id}/download", headers=student.headers)).status_code == 200

    # Lessons do not name their quiz to students; the tutor's analytics list the course's quizzes.
    analytics = (await api.get(f"courses/{course_id}/analytics", headers=bearer(tutor_token))).json()
    (quiz,) = analytics["quizzes"]
    graded = await api.post(f"quizzes/{quiz['quizId']}/attempts", json={"answers": DEMO_ANSWERS},
                            headers={**student.headers, "Idempotency-Key": "demo"})
    assert graded.status_code == 201 and graded.json()["score"] == graded.json()["maxScore"], graded.text

    # The video (its length from the registry), watched offline by a student enrolled for a while.
    video = lessons["video"]
    await enrolled_earlier(stack.postgres_url, student.user_id, course_id, timedelta(hours=3))
    t0 = datetime.now(UTC) - timedelta(hours=2)
    length = video["durationSeconds"]
    events = [{"lessonId": video["id"], "positionSeconds": s, "watchedSeconds": s, "durationSeconds": length,
               "clientTime": (t0 + timedelta(seconds=s)).isoformat()} for s in range(0, length + 1, 5)]
    synced = await api.post("progress/sync", json={"events": events}, headers=student.headers)
    assert synced.status_code == 200 and not synced.json()["refused"], synced.text


async def test_a_student_completes_the_seeded_demo_course_end_to_end(api, actor, stack, monkeypatch):
    # A title of its own, so this run creates the course rather than finding an earlier one.
    monkeypatch.setattr(seed_module, "COURSE_TITLE", f"Demo: Introduction to Data Science {uuid.uuid4().hex[:6]}")
    seeded = await seed_module.seed(stack.base_url)
    student = await actor("student")
    await complete_demo_course(api, stack, student, seeded["courseId"], seeded["tutor"])

    certificate = await rendered_certificate(api, student, seeded["courseId"])
    entry = await course_entry(api, student, seeded["courseId"])
    assert (entry["completedLessons"], entry["totalLessons"], entry["progressPercent"]) == (3, 3, 100.0)
    assert entry["certificateCode"] == certificate["code"]


async def test_a_demo_course_seeded_before_documents_named_a_material_is_linked_on_the_next_run(api, actor, stack, monkeypatch):
    title = f"Demo: Introduction to Data Science {uuid.uuid4().hex[:6]}"
    monkeypatch.setattr(seed_module, "COURSE_TITLE", title)
    tutor = bearer((await seed_module.seed(stack.base_url, tokens_only=True))["tutor"])
    # The course as an older seed left it: its document lesson names nothing.
    course = (await api.post("courses", json={"title": title, "description": "older seed"}, headers=tutor)).json()
    video = (await api.post("videos", json={"title": "Welcome", "durationSeconds": 60}, headers=tutor)).json()
    for lesson in ({"title": "Welcome", "kind": "video", "videoAssetId": video["id"]},
                   {"title": "Reading", "kind": "document"}, {"title": "Check", "kind": "quiz"}):
        assert (await api.post(f"courses/{course['id']}/lessons", json=lesson, headers=tutor)).status_code == 201
    assert (await api.patch(f"courses/{course['id']}", json={"published": True}, headers=tutor)).status_code == 200

    seeded = await seed_module.seed(stack.base_url)
    assert seeded["courseId"] == course["id"]
    lessons = (await api.get(f"courses/{course['id']}", headers=tutor)).json()["lessons"]
    (document,) = [lesson for lesson in lessons if lesson["kind"] == "document"]
    assert document["materialId"]
    again = await seed_module.seed(stack.base_url)  # nothing left to link: the same material stays
    lessons = (await api.get(f"courses/{again['courseId']}", headers=tutor)).json()["lessons"]
    assert [lesson["materialId"] for lesson in lessons if lesson["kind"] == "document"] == [document["materialId"]]
