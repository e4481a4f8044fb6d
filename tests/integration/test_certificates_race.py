"""Two last lessons of a course completing at the same moment, through the service layer
against the real PostgreSQL: neither transaction sees the other's completion (each counts
the course half done), yet once both have committed the student holds exactly one
certificate. The check runs after each commit, not inside either transaction."""

from __future__ import annotations

import pytest

from shared_code.models.content import CourseCreate, CourseUpdate, EnrollmentRequest, LessonCreate
from shared_code.services.certificates import reads
from shared_code.services.content import courses, enrollments
from shared_code.services.progress import completion
from tests.integration.conftest import person

pytestmark = pytest.mark.timeout(60)


async def test_two_last_lessons_committed_at_once_issue_one_certificate(ctx):
    tutor, student = person("tutor"), person("student")
    _, course = await courses.create_course(ctx, tutor, CourseCreate(title="Race", description="d"), idempotency_key=None)
    course_id = str(course["id"])
    lesson_ids = []
    for title in ("Quiz", "Reading"):
        _, lesson = await courses.add_lesson(ctx, tutor, course_id, LessonCreate(title=title, kind="quiz"), idempotency_key=None)
        lesson_ids.append(str(lesson["id"]))
    await courses.update_course(ctx, tutor, course_id, CourseUpdate(published=True))
    await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())

    async with ctx.db.transaction() as first, ctx.db.transaction() as second:
        rows_a, progress_a = await completion.complete_in(first, student.user_id, [lesson_ids[0]], course_id)
        rows_b, progress_b = await completion.complete_in(second, student.user_id, [lesson_ids[1]], course_id)
    assert (progress_a, progress_b) == (0.5, 0.5), "each transaction saw only its own completion"

    await completion.announce(ctx, rows_a, progress_a)
    await completion.announce(ctx, rows_b, progress_b)
    page = await reads.list_mine(ctx, student, limit=10, cursor=None)
    assert [str(c.course_id) for c in page.items] == [str(course["id"])]

    await completion.announce(ctx, rows_b, progress_b)  # announced again (a retry): still one
    assert len((await reads.list_mine(ctx, student, limit=10, cursor=None)).items) == 1
