"""Wire models of a course's roster: the tutor's view of who is enrolled and how they do."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from shared_code.models.base import ApiModel
from shared_code.pagination import DEFAULT_LIMIT, MAX_LIMIT

RosterSort = Literal["name", "progress", "enrolledAt", "lastActivity"]
SortOrder = Literal["asc", "desc"]


class RosterQuery(ApiModel):
    """`sort` and `order` must be the same on every page of one listing (the cursor says which)."""

    sort: RosterSort = "name"
    order: SortOrder = "asc"
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, max_length=512)


class RosterStudent(ApiModel):
    id: uuid.UUID
    name: str
    enrolled_at: datetime
    completed_lessons: int
    total_lessons: int
    progress_percent: float = Field(description="Completed lessons of the course's current lessons, 0-100.")
    last_activity: datetime | None = Field(None, description="Latest progress write or quiz attempt; null when none.")
    average_quiz_score: float | None = Field(
        None, description="Mean of the student's best score per attempted quiz, as a percentage; null when none."
    )
    quizzes_attempted: int


class RosterPage(ApiModel):
    items: list[RosterStudent]
    next_cursor: str | None = None
