"""The class reminder against real PostgreSQL and Web PubSub: each enrolled student and the
tutor of a class about to start are notified once, however often the timer runs, and a
run that finds nothing says so only at debug level.

The classes lie far in the future and each run is handed its `now`, so the host's own
timer (which runs on the real clock against the same database) never sees them.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta

import pytest

from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.models.content import CourseCreate, CourseUpdate, EnrollmentRequest
from shared_code.models.live import ClassCreate, ClassUpdate
from shared_code.models.notifications import NotificationQuery
from shared_code.services.content import courses, enrollments
from shared_code.services.live import classes
from shared_code.services.notifications import feed, reminders
from tests.integration.conftest import person

pytestmark = pytest.mark.timeout(90)


def far_future() -> datetime:
    """A minute of its own for this test, decades ahead: no other test's class is near it."""
    return datetime(2090, 1, 1, tzinfo=UTC) + timedelta(minutes=random.randrange(5_000_000))


async def reminders_of(ctx: AppContext, who: Principal, class_id: str) -> list:
    page = await feed.list_notifications(ctx, who, NotificationQuery(limit=200))
    return [n for n in page.items if n.key.startswith(f"class.reminder:{class_id}:")]


async def course_of(ctx: AppContext, tutor: Principal) -> str:
    _, course = await courses.create_course(ctx, tutor, CourseCreate(title="Reminders", description="d"), idempotency_key=None)
    await courses.update_course(ctx, tutor, str(course["id"]), CourseUpdate(published=True))
    return str(course["id"])


async def enrolled(ctx: AppContext, course_id: str) -> Principal:
    student = person("student")
    await enrollments.enrol(ctx, student, course_id, EnrollmentRequest())
    return student


async def test_a_class_about_to_start_reminds_each_student_and_the_tutor_once_however_often_the_timer_runs(ctx: AppContext):
    tutor, outsider = person("tutor"), person("student")
    course_id = await course_of(ctx, tutor)
    students = [await enrolled(ctx, course_id) for _ in range(3)]
    starts = far_future()
    soon = await classes.create_class(ctx, tutor, ClassCreate(course_id=course_id, title="Algebra", scheduled_at=starts))
    later = await classes.create_class(
        ctx, tutor, ClassCreate(course_id=course_id, title="Later", scheduled_at=starts + timedelta(minutes=30))
    )
    now = starts - timedelta(minutes=5)

    first = await reminders.remind_upcoming_classes(ctx, now=now)
    assert first.notified >= 4
    again = await reminders.remind_upcoming_classes(ctx, now=now + timedelta(minutes=1))
    assert again.notified == 0

    for who in (*students, tutor):
        mine = await reminders_of(ctx, who, str(soon.id))
        assert len(mine) == 1, mine
        assert mine[0].kind == "class.reminder" and "Algebra" in mine[0].title and "in 5 minutes" in mine[0].title
        assert mine[0].data["classId"] == str(soon.id) and mine[0].created_at == now
        assert await reminders_of(ctx, who, str(later.id)) == []
    assert await reminders_of(ctx, outsider, str(soon.id)) == []

    # A student who enrols between two runs is reminded by the next, and nobody else twice.
    late = await enrolled(ctx, course_id)
    third = await reminders.remind_upcoming_classes(ctx, now=now + timedelta(minutes=2))
    assert third.notified == 1
    assert len(await reminders_of(ctx, late, str(soon.id))) == 1
    assert len(await reminders_of(ctx, students[0], str(soon.id))) == 1


async def test_a_window_with_more_classes_than_a_page_reminds_every_one_in_the_same_run(ctx: AppContext):
    """A busy window takes several pages, walked in one run: classes at the very same minute
    (told apart by id) and one later, with pages of two, are all reminded at once."""
    tutor = person("tutor")
    course_id = await course_of(ctx, tutor)
    student = await enrolled(ctx, course_id)
    starts = far_future()
    at_once = [
        await classes.create_class(ctx, tutor, ClassCreate(course_id=course_id, title=f"Room {n}", scheduled_at=starts))
        for n in range(4)
    ]
    later = await classes.create_class(
        ctx, tutor, ClassCreate(course_id=course_id, title="Later", scheduled_at=starts + timedelta(minutes=2))
    )

    run = await reminders.remind_upcoming_classes(ctx, now=starts - timedelta(minutes=5), page_size=2)

    assert run.classes >= 5 and run.notified >= 10
    for klass in (*at_once, later):
        assert len(await reminders_of(ctx, student, str(klass.id))) == 1
        assert len(await reminders_of(ctx, tutor, str(klass.id))) == 1


async def test_a_run_that_finds_no_class_logs_at_debug_level_only(ctx: AppContext, caplog):
    caplog.set_level(logging.DEBUG, logger="lectern.notifications")
    run = await reminders.remind_upcoming_classes(ctx, now=datetime(1990, 1, 1, tzinfo=UTC))
    assert (run.classes, run.notified) == (0, 0)
    mine = [r for r in caplog.records if r.name == "lectern.notifications"]
    assert mine and all(r.levelno == logging.DEBUG for r in mine)


async def test_a_rescheduled_class_is_reminded_again_at_its_new_time_and_not_at_its_old_one(ctx: AppContext):
    tutor = person("tutor")
    course_id = await course_of(ctx, tutor)
    student = await enrolled(ctx, course_id)
    first_time = far_future()
    klass = await classes.create_class(ctx, tutor, ClassCreate(course_id=course_id, title="Algebra", scheduled_at=first_time))
    await reminders.remind_upcoming_classes(ctx, now=first_time - timedelta(minutes=5))
    assert len(await reminders_of(ctx, student, str(klass.id))) == 1

    # Moved at the last minute to two days later, and renamed.
    new_time = first_time + timedelta(days=2)
    moved = await classes.update_class(ctx, tutor, str(klass.id), ClassUpdate(title="Algebra, moved", scheduled_at=new_time))
    assert (moved.title, moved.scheduled_at) == ("Algebra, moved", new_time)
    # The old time passes without another word about it...
    await reminders.remind_upcoming_classes(ctx, now=first_time - timedelta(minutes=2))
    assert len(await reminders_of(ctx, student, str(klass.id))) == 1
    # ...and five minutes before the new one the student is reminded again, under the new title.
    await reminders.remind_upcoming_classes(ctx, now=new_time - timedelta(minutes=5))
    newest, _ = await reminders_of(ctx, student, str(klass.id))
    assert "Algebra, moved" in newest.title and "in 5 minutes" in newest.title


async def cancellations_of(ctx: AppContext, who: Principal, class_id: str) -> list:
    page = await feed.list_notifications(ctx, who, NotificationQuery(limit=200))
    return [n for n in page.items if n.key == f"class.cancelled:{class_id}"]


async def test_a_class_called_off_before_its_time_tells_its_students_and_nobody_else(ctx: AppContext):
    tutor, outsider = person("tutor"), person("student")
    course_id = await course_of(ctx, tutor)
    students = [await enrolled(ctx, course_id) for _ in range(2)]
    off = await classes.create_class(ctx, tutor, ClassCreate(course_id=course_id, title="Algebra", scheduled_at=far_future()))
    await classes.end_class(ctx, tutor, str(off.id))
    for student in students:
        [notice] = await cancellations_of(ctx, student, str(off.id))
        assert notice.kind == "class.cancelled" and notice.title == "Class cancelled: Algebra"
        assert notice.data["classId"] == str(off.id) and notice.data["courseId"] == course_id
    assert await cancellations_of(ctx, outsider, str(off.id)) == []
    assert await cancellations_of(ctx, tutor, str(off.id)) == []
    # Ending it again tells nobody twice.
    await classes.end_class(ctx, tutor, str(off.id))
    assert len(await cancellations_of(ctx, students[0], str(off.id))) == 1
    # A class that ran, and one left unstarted long past its time, end without a word.
    ran = await classes.create_class(ctx, tutor, ClassCreate(course_id=course_id, title="Ran", scheduled_at=far_future()))
    await classes.start_class(ctx, tutor, str(ran.id))
    await classes.end_class(ctx, tutor, str(ran.id))
    stale = await classes.create_class(
        ctx, tutor, ClassCreate(course_id=course_id, title="Stale", scheduled_at=datetime(2001, 1, 1, tzinfo=UTC))
    )
    await classes.end_class(ctx, tutor, str(stale.id))
    for klass in (ran, stale):
        assert await cancellations_of(ctx, students[0], str(klass.id)) == []
