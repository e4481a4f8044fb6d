"""Wire models of the progress area: heartbeats, offline sync, quizzes, leaderboards, the
dashboard, course analytics and the change log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from shared_code.models.base import ApiModel, StrictInput
from shared_code.pagination import MAX_LIMIT

# A lesson lasts at most a day (LessonCreate); watched time can exceed the duration on
# rewatching, so it gets more room before it is plainly wrong.
MAX_DURATION_SECONDS = 86_400
MAX_WATCHED_SECONDS = 7 * 86_400
MAX_SYNC_EVENTS = 500
MAX_QUESTIONS = 100
MAX_OPTIONS = 20


# --- heartbeats ------------------------------------------------------------------------
class Heartbeat(StrictInput):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"positionSeconds": 125.5, "watchedSeconds": 120.0, "durationSeconds": 600.0, "clientTime": "2026-01-15T16:02:05Z"}
            ]
        }
    )

    position_seconds: float = Field(ge=0, le=MAX_WATCHED_SECONDS, description="Where the player is now.")
    watched_seconds: float = Field(
        ge=0, le=MAX_WATCHED_SECONDS, description="Seconds actually played so far (the player's own count)."
    )
    duration_seconds: float = Field(
        gt=0, le=MAX_DURATION_SECONDS,
        description="The player's idea of the length: it only caps what is recorded. The lesson's own duration "
        "decides completion, and a video lesson without one cannot complete.",
    )
    client_time: datetime | None = Field(None, description="The player's clock when it took the snapshot (kept as a hint).")


class HeartbeatResult(ApiModel):
    lesson_id: uuid.UUID
    course_id: uuid.UUID
    completed: bool
    course_progress: float = Field(description="Completed lessons / lessons in the course, 0 to 1.")
    watched_seconds: float = Field(
        description="Watched time as recorded: earned by the server's clock over the viewing session (a 5 s "
        "allowance, then at most 1.5 × the time between heartbeats), never lower than before."
    )


class SyncEvent(StrictInput):
    lesson_id: uuid.UUID
    position_seconds: float = Field(ge=0, le=MAX_WATCHED_SECONDS)
    watched_seconds: float = Field(ge=0, le=MAX_WATCHED_SECONDS)
    duration_seconds: float = Field(gt=0, le=MAX_DURATION_SECONDS)
    client_time: datetime = Field(
        description="When the player took the snapshot: a hint, clamped to the server's clock (later than now counts "
        "as now; more than 5 minutes ahead, or before the enrolment, is refused)."
    )

    @model_validator(mode="after")
    def _aware(self) -> SyncEvent:
        if self.client_time.tzinfo is None:
            raise ValueError("clientTime needs a UTC offset, e.g. 2026-01-01T00:00:00Z")
        return self


class SyncRequest(StrictInput):
    """What the offline queue sends. An event that does not fit `SyncEvent` is refused on
    its own (with the reason) rather than failing the whole batch."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "events": [
                        {
                            "lessonId": "9c2d1e0f-3a4b-4c5d-8e6f-7a8b9c0d1e2f",
                            "positionSeconds": 300.0,
                            "watchedSeconds": 290.0,
                            "durationSeconds": 600.0,
                            "clientTime": "2026-01-15T08:30:00Z",
                        }
                    ]
                }
            ]
        }
    )

    events: list[SyncEvent] = Field(min_length=1, max_length=MAX_SYNC_EVENTS)


class SyncBatch(StrictInput):
    """How a sync body is parsed: the envelope strictly, each event separately."""

    events: list[Any] = Field(min_length=1, max_length=MAX_SYNC_EVENTS)


class Refusal(ApiModel):
    index: int
    lesson_id: str | None
    reason: str


class LessonProgress(ApiModel):
    lesson_id: uuid.UUID
    course_id: uuid.UUID
    watched_seconds: float
    position_seconds: float
    completed: bool
    course_progress: float | None = None


class SyncResult(ApiModel):
    accepted: list[int] = Field(
        description="Indexes of the events applied (duplicates and stale events included: applying them changes nothing)."
    )
    refused: list[Refusal]
    lessons: list[LessonProgress] = Field(description="Where each lesson of the batch stands now.")


# --- quizzes ---------------------------------------------------------------------------
class QuestionCreate(StrictInput):
    prompt: str = Field(min_length=1, max_length=2000)
    options: list[str] = Field(min_length=2, max_length=MAX_OPTIONS)
    correct: list[int] = Field(min_length=1, max_length=MAX_OPTIONS, description="Indexes into options.")
    points: int = Field(1, ge=0, le=1000)
    multiple: bool | None = Field(
        None, description="Shown as multiple choice; defaults to true when more than one option is correct."
    )


class QuizCreate(StrictInput):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "lessonId": "9c2d1e0f-3a4b-4c5d-8e6f-7a8b9c0d1e2f",
                    "title": "Check your understanding",
                    "questions": [{"prompt": "2x + 3 = 7. What is x?", "options": ["1", "2", "5"], "correct": [1], "points": 1}],
                }
            ]
        }
    )

    lesson_id: uuid.UUID
    title: str = Field(min_length=1, max_length=200)
    questions: list[QuestionCreate] = Field(min_length=1, max_length=MAX_QUESTIONS)
    max_attempts: int | None = Field(None, ge=1, le=100)
    pass_mark_percent: int = Field(
        60, ge=0, le=100,
        description="The share of the max score (percent) a student's best attempt needs for the quiz lesson to complete.",
    )


class QuizUpdate(StrictInput):
    """Every field optional; only those sent change. Questions (and so answer keys) change
    only while nobody has attempted the quiz (409 `quiz-attempted` after that)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"title": "Check your understanding", "passMarkPercent": 50}]})

    title: str | None = Field(None, min_length=1, max_length=200)
    questions: list[QuestionCreate] | None = Field(None, min_length=1, max_length=MAX_QUESTIONS)
    max_attempts: int | None = Field(None, ge=1, le=100)
    pass_mark_percent: int | None = Field(
        None, ge=0, le=100,
        description="Lowering it completes the quiz lesson for enrolled students whose best attempt now passes; "
        "raising it un-completes nobody (completion is never lost).",
    )


class Question(ApiModel):
    index: int
    prompt: str
    options: list[str]
    multiple: bool
    points: int


class QuestionWithKey(Question):
    correct: list[int]


class QuizBase(ApiModel):
    id: uuid.UUID
    course_id: uuid.UUID
    lesson_id: uuid.UUID
    title: str
    max_score: int
    max_attempts: int
    pass_mark_percent: int
    created_at: datetime


class LessonQuizzes(ApiModel):
    """A lesson's quizzes (read each with GET /api/quizzes/{quizId}); a quiz lesson completes
    when the student's best attempt at every one of them reaches its pass mark."""

    items: list[QuizBase]


class QuizWithKeys(QuizBase):
    """The quiz as its tutor wrote it, answer keys included."""

    questions: list[QuestionWithKey]


class Quiz(QuizBase):
    """The quiz as a student sees it: no answer keys."""

    questions: list[Question]
    attempts_used: int | None = Field(None, description="The caller's attempts so far (students only).")


class AttemptCreate(StrictInput):
    model_config = ConfigDict(json_schema_extra={"examples": [{"answers": [[1]]}]})

    answers: list[list[int]] = Field(
        max_length=MAX_QUESTIONS, description="One list of chosen option indexes per question, in order."
    )


class QuestionResult(ApiModel):
    index: int
    correct: bool
    points: int
    awarded: int


class AttemptResult(ApiModel):
    """Exact-set grading: a question scores its points when the chosen options are exactly
    the correct ones, and nothing otherwise (no partial credit)."""

    id: uuid.UUID
    attempt_id: uuid.UUID
    quiz_id: uuid.UUID
    attempt_no: int
    score: int
    max_score: int
    per_question: list[QuestionResult]
    created_at: datetime


# --- leaderboards ----------------------------------------------------------------------
class LeaderboardQuery(ApiModel):
    limit: int = Field(10, ge=1, le=MAX_LIMIT)


class Standing(ApiModel):
    user_id: uuid.UUID
    name: str
    points: int
    rank: int


class Leaderboard(ApiModel):
    """Points are the sum of each student's best score per quiz. Ties share a rank and the
    next rank skips (competition ranking: 1, 2, 2, 4)."""

    course_id: uuid.UUID
    items: list[Standing]
    me: Standing | None = Field(
        None, description="The caller's own standing (a student without attempts ranks as 0 points); null for tutors and admins."
    )
    participants: int


# --- dashboard -------------------------------------------------------------------------
class QuizScore(ApiModel):
    quiz_id: uuid.UUID
    title: str
    attempt_id: uuid.UUID
    score: int
    max_score: int
    at: datetime


class UpcomingClass(ApiModel):
    id: uuid.UUID
    title: str
    scheduled_at: datetime
    status: Literal["scheduled", "live"]


class DashboardCourse(ApiModel):
    course_id: uuid.UUID
    title: str
    progress_percent: float
    completed_lessons: int
    total_lessons: int
    recent_quiz_results: list[QuizScore]
    points: int
    rank: int | None = Field(None, description="Leaderboard rank; null when the board cannot be read right now.")
    upcoming_classes: list[UpcomingClass]
    certificate_code: str | None = Field(
        None,
        description="The student's certificate for this course, once every lesson is complete: its verification code "
        "(GET /api/certificates/{code}; the PDF at GET /api/me/certificates/{code}/download). Null before.",
    )


class Dashboard(ApiModel):
    user_id: uuid.UUID
    generated_at: datetime
    courses: list[DashboardCourse]


# --- analytics -------------------------------------------------------------------------
class LessonFunnel(ApiModel):
    lesson_id: uuid.UUID
    title: str
    kind: str
    position: int
    started: int = Field(description="Students with any recorded progress on the lesson.")
    completed: int
    completion_rate: float = Field(description="completed / started (0 when nobody started).")


class ScoreBucket(ApiModel):
    from_percent: int
    to_percent: int
    students: int


class QuizDistribution(ApiModel):
    quiz_id: uuid.UUID
    title: str
    max_score: int
    students: int
    buckets: list[ScoreBucket] = Field(
        description="Best attempt per student, in tenths of the maximum score; 100% falls in the last bucket."
    )


class ClassAttendance(ApiModel):
    class_id: uuid.UUID
    title: str
    scheduled_at: datetime
    status: str
    attendees: int | None = Field(None, description="Distinct students who joined; null when the attendance log cannot be read.")
    average_minutes: float | None = None


class CourseAnalytics(ApiModel):
    course_id: uuid.UUID
    enrolled_students: int
    lessons: list[LessonFunnel]
    quizzes: list[QuizDistribution]
    classes: list[ClassAttendance]
    generated_at: datetime


# --- change log ------------------------------------------------------------------------
ChangeKind = Literal["progress.completed", "quiz.attempted", "leaderboard.changed"]


class ChangeQuery(ApiModel):
    from_: datetime | None = Field(None, alias="from")
    to: datetime | None = None
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, max_length=512)

    @model_validator(mode="after")
    def _range(self) -> ChangeQuery:
        for value in (self.from_, self.to):
            if value is not None and value.tzinfo is None:
                raise ValueError("times need a UTC offset, e.g. 2026-01-01T00:00:00Z")
        if self.from_ and self.to and self.from_ > self.to:
            raise ValueError("'from' must not be after 'to'")
        return self


class Change(ApiModel):
    id: str
    at: datetime
    kind: ChangeKind
    course_id: uuid.UUID | None = None
    subject_id: str | None = Field(None, description="The lesson, attempt or quiz the change is about.")
    details: dict[str, Any]


class ChangePage(ApiModel):
    items: list[Change]
    next_cursor: str | None = None
