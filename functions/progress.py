"""Progress and portfolio endpoints: heartbeats, offline sync, quizzes, leaderboards, the
dashboard, course analytics and the change log.

`endpoint` checks who may call (roles, relation, the heartbeat rate) before a handler runs;
the handler parses, calls one service function and responds.
"""

from __future__ import annotations

import azure.functions as func

from shared_code.http import (
    COURSE_MANAGER,
    COURSE_MEMBER,
    QUIZ_MEMBER,
    QUIZ_TAKER,
    Call,
    course_relation,
    endpoint,
    header,
    in_body,
    json_body,
    lesson_relation,
    query,
    respond,
    route_id,
)
from shared_code.models.progress import (
    AttemptCreate,
    AttemptResult,
    ChangePage,
    ChangeQuery,
    CourseAnalytics,
    Dashboard,
    Heartbeat,
    HeartbeatResult,
    Leaderboard,
    LeaderboardQuery,
    LessonQuizzes,
    Quiz,
    QuizCreate,
    QuizUpdate,
    QuizWithKeys,
    SyncBatch,
    SyncRequest,
    SyncResult,
)
from shared_code.models.roster import RosterPage, RosterQuery
from shared_code.services.progress import analytics, changelog, dashboard, leaderboard, quiz_edits, quizzes, roster
from shared_code.services.progress import watch as progress

bp = func.Blueprint()

TAG = "progress"
MANAGERS = ("tutor", "admin")

# Heartbeats: only a student enrolled in the lesson's course. The lesson and the enrolment
# come from the content cache (one Redis round trip when warm) and go on to the service.
LEARNER = lesson_relation(
    "enrolled student", ("student",), lambda access: access.relation == "enrolled",
    "Only students enrolled in this course record progress.",
)
# A new quiz names its lesson in the body: the owning tutor or an admin of that lesson's course.
QUIZ_AUTHOR = in_body(lesson_relation("owning tutor, admin", MANAGERS, lambda access: access.can_manage, quizzes.AUTHORS_ONLY))
# A lesson's quizzes: whoever may read the lesson (enrolled students, the owning tutor, admins).
QUIZ_LISTER = lesson_relation(
    "enrolled, owning tutor, admin", ("student", "tutor", "admin"), lambda access: access.is_member,
    "Only students enrolled in this course, its tutor and admins may see its quizzes.",
)
# Edits and deletes of a quiz: the owning tutor or an admin of its course.
QUIZ_EDITOR = course_relation(
    "owning tutor, admin", "quizId", MANAGERS, quizzes.quiz_access, lambda access: access.can_manage, quiz_edits.EDITORS_ONLY,
)


# --- video progress ----------------------------------------------------------------------
@endpoint(
    bp, "progress/lessons/{lessonId}", ["PUT"],
    summary="Heartbeat: 202 when buffered, 200 when written through (the lesson just completed, or Redis is down); "
    "422 for a quiz or document lesson (they complete by a passed quiz or an opened material); "
    "429 beyond the per-student heartbeat rate",
    tag=TAG, request=Heartbeat, response=HeartbeatResult, status=202, roles=("student",), relation=LEARNER,
    errors=(403, 404, 422), also=(200,),  # the per-student rate is applied by the heartbeat's own script
)
async def record_progress(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    lesson_id = route_id(req, "lessonId")
    beat = json_body(req, Heartbeat)
    status, result = await progress.record_heartbeat(call.ctx, call.principal, lesson_id, beat, found=call.access)
    return respond(result, status=status)


@endpoint(
    bp, "progress/sync", ["POST"],
    summary="Offline queue: events applied idempotently in client-time order; bad events refused one by one",
    tag=TAG, request=SyncRequest, response=SyncResult, roles=("student",),
)
async def sync_progress(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    batch = json_body(req, SyncBatch)
    return respond(await progress.sync_events(call.ctx, call.principal, batch))


# --- quizzes -----------------------------------------------------------------------------
@endpoint(
    bp, "quizzes", ["POST"], summary="Add a quiz to a lesson (answer keys come back to its tutor only)",
    tag=TAG, request=QuizCreate, response=QuizWithKeys, status=201, roles=MANAGERS, relation=QUIZ_AUTHOR,
    errors=(403, 404, 409, 422), idempotent_key=True,
)
async def create_quiz(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    body: QuizCreate = call.body
    return respond(await quizzes.create_quiz(call.ctx, call.principal, body, found=call.access), status=201)


@endpoint(
    bp, "lessons/{lessonId}/quizzes", ["GET"], summary="A lesson's quizzes (no questions): how a quiz lesson names its quiz",
    tag=TAG, response=LessonQuizzes, relation=QUIZ_LISTER, errors=(403, 404),
)
async def lesson_quizzes(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    return respond(await quizzes.lesson_quizzes(call.ctx, route_id(req, "lessonId")))


@endpoint(
    bp, "quizzes/{quizId}", ["GET"], summary="A quiz's questions, without answer keys",
    tag=TAG, response=Quiz, relation=QUIZ_MEMBER, errors=(403, 404),
)
async def get_quiz(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    quiz_id = route_id(req, "quizId")
    return respond(await quizzes.get_quiz(call.ctx, call.principal, quiz_id, found=call.access))


@endpoint(
    bp, "quizzes/{quizId}", ["PATCH"],
    summary="Edit a quiz (audited): title, pass mark and attempt limit at any time; questions and answer keys only "
    "until a student has attempted it (409 quiz-attempted). A lower pass mark completes the lesson for students "
    "whose best now passes; a higher one un-completes nobody",
    tag=TAG, request=QuizUpdate, response=QuizWithKeys, roles=MANAGERS, relation=QUIZ_EDITOR, errors=(403, 404, 409, 422),
)
async def update_quiz(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    quiz_id = route_id(req, "quizId")
    body = json_body(req, QuizUpdate)
    return respond(await quiz_edits.update_quiz(call.ctx, call.principal, quiz_id, body, found=call.access))


@endpoint(
    bp, "quizzes/{quizId}", ["DELETE"],
    summary="Delete a quiz with its attempts and best scores (audited); the course's leaderboard drops its points, "
    "completions stay",
    tag=TAG, status=204, roles=MANAGERS, relation=QUIZ_EDITOR, errors=(403, 404, 409),
)
async def delete_quiz(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    quiz_id = route_id(req, "quizId")
    await quiz_edits.delete_quiz(call.ctx, call.principal, quiz_id, found=call.access)
    return respond(status=204)


@endpoint(
    bp, "quizzes/{quizId}/attempts", ["POST"],
    summary="Submit answers (Idempotency-Key required): graded on the server, exact match per question, no partial credit",
    tag=TAG, request=AttemptCreate, response=AttemptResult, status=201, roles=("student",), relation=QUIZ_TAKER,
    errors=(403, 404, 409, 422), idempotency_in_service=True,
)
async def submit_quiz_attempt(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    quiz_id = route_id(req, "quizId")
    body = json_body(req, AttemptCreate)
    status, result, replayed = await quizzes.submit_attempt(
        call.ctx, call.principal, quiz_id, body, header(req, "idempotency-key"), found=call.access
    )
    return respond(result, status=status, headers={"Idempotent-Replayed": "true"} if replayed else None)


# --- leaderboards, dashboard, analytics ---------------------------------------------------
@endpoint(
    bp, "courses/{courseId}/leaderboard", ["GET"],
    summary="Top students by points (competition ranking: ties share a rank) and the caller's own standing",
    tag=TAG, query=LeaderboardQuery, response=Leaderboard, relation=COURSE_MEMBER, errors=(403, 404),
)
async def course_leaderboard(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    access = call.access
    q = query(req, LeaderboardQuery)
    return respond(await leaderboard.get_leaderboard(call.ctx, call.principal, access.course_id, q.limit, access=access))


@endpoint(
    bp, "me/dashboard", ["GET"],
    summary="Portfolio: per enrolled course progress, recent scores, rank and upcoming classes",
    tag=TAG, response=Dashboard,
)
async def my_dashboard(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    return respond(await dashboard.get_dashboard(call.ctx, call.principal))


@endpoint(
    bp, "me/changes", ["GET"],
    summary="The caller's change log (completions, attempts, leaderboard changes), oldest first, by time range",
    tag=TAG, query=ChangeQuery, response=ChangePage,
)
async def my_changes(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    q = query(req, ChangeQuery)
    items, next_cursor = await changelog.read_changes(
        call.ctx, call.principal.user_id, since=q.from_, until=q.to, limit=q.limit, cursor=q.cursor
    )
    return respond(ChangePage(items=items, next_cursor=next_cursor))


@endpoint(
    bp, "courses/{courseId}/analytics", ["GET"],
    summary="Completion funnel per lesson, score distribution per quiz, attendance per class",
    tag=TAG, response=CourseAnalytics, roles=MANAGERS, relation=COURSE_MANAGER, errors=(403, 404),
)
async def course_analytics(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    access = call.access
    return respond(await analytics.course_analytics(call.ctx, call.principal, access.course_id, access=access))


@endpoint(
    bp, "courses/{courseId}/students", ["GET"],
    summary="The course's enrolled students with progress, last activity and quiz average; sortable, paged",
    tag=TAG, query=RosterQuery, response=RosterPage, roles=MANAGERS, relation=COURSE_MANAGER, errors=(400, 403, 404),
)
async def course_roster(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    access = call.access
    q = query(req, RosterQuery)
    return respond(await roster.course_roster(call.ctx, call.principal, access.course_id, q, access=access))
