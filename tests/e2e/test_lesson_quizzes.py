"""A quiz lesson names its quizzes to the students who take them: the app reads a lesson's
quizzes, then each quiz's questions, then answers. A student of another course learns
nothing, and answer keys never appear in the list."""

from __future__ import annotations

import pytest

from tests.support.completion import quiz_lesson
from tests.support.content import create_course, enrol, publish

pytestmark = pytest.mark.timeout(60)


async def test_a_quiz_lesson_lists_its_quizzes_to_its_members_only(api, actor):
    tutor, student, stranger = await actor("tutor"), await actor("student"), await actor("student")
    course = await create_course(api, tutor)
    lesson, quiz = await quiz_lesson(api, tutor, course["id"])
    await publish(api, tutor, course["id"])
    await enrol(api, student, course["id"])

    listed = await api.get(f"lessons/{lesson['id']}/quizzes", headers=student.headers)
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["items"]
    assert item["id"] == quiz["id"] and item["lessonId"] == lesson["id"]
    assert item["passMarkPercent"] == 60 and "questions" not in item
    # The quiz it names is the one the student then reads and answers.
    assert (await api.get(f"quizzes/{item['id']}", headers=student.headers)).status_code == 200

    refused = await api.get(f"lessons/{lesson['id']}/quizzes", headers=stranger.headers)
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
