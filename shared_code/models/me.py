"""Wire models of the student app: the caller's profile, enrolments and calendar."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from shared_code.models.base import ApiModel
from shared_code.pagination import PageQuery

EnrollmentStatus = Literal["active", "refunded", "left"]


class Profile(ApiModel):
    id: uuid.UUID
    name: str
    email: str | None = None
    roles: list[str] = Field(description="As stored: admins set them; a token's claim never widens them.")
    created_at: datetime


class MyEnrollment(ApiModel):
    course_id: uuid.UUID
    title: str
    enrolled_at: datetime
    status: EnrollmentStatus = Field(description="`active` counts as membership; `refunded` and `left` no longer do.")
    progress_percent: float
    completed_lessons: int
    lessons_total: int


class MyEnrollmentPage(ApiModel):
    items: list[MyEnrollment]
    next_cursor: str | None = None


class CalendarQuery(PageQuery):
    """A time range of at most 92 days; without one, the next 30 days."""

    from_: datetime | None = Field(None, alias="from", description="Default: now. A time without an offset is UTC.")
    to: datetime | None = Field(None, description="Default: 30 days after `from`.")

    @field_validator("from_", "to")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    @model_validator(mode="after")
    def _order(self) -> CalendarQuery:
        if self.from_ and self.to and self.from_ > self.to:
            raise ValueError("'from' must not be after 'to'")
        return self


CalendarRole = Literal["student", "tutor"]


class CalendarEntry(ApiModel):
    id: uuid.UUID = Field(description="The live class.")
    course_id: uuid.UUID
    course_title: str
    title: str
    scheduled_at: datetime
    status: Literal["scheduled", "live"]
    role: CalendarRole = Field(description="`tutor` for a class of the caller's own course, else `student`.")


class CalendarPage(ApiModel):
    items: list[CalendarEntry]
    next_cursor: str | None = None


class CalendarFeed(ApiModel):
    url: str = Field(description="The secret iCalendar feed URL; a new one replaces it and the old one stops working.")
