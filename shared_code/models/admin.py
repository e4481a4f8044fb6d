"""Wire models of the admin endpoints."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from shared_code.models.base import ApiModel, StrictInput
from shared_code.pagination import DEFAULT_LIMIT, MAX_LIMIT


class AuditQuery(ApiModel):
    actor: uuid.UUID | None = None
    action: str | None = Field(None, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    from_: datetime | None = Field(None, alias="from")
    to: datetime | None = None
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, max_length=512)

    @model_validator(mode="after")
    def _range(self) -> AuditQuery:
        if self.from_ and self.to and self.from_ > self.to:
            raise ValueError("'from' must not be after 'to'")
        for value in (self.from_, self.to):
            if value is not None and value.tzinfo is None:
                raise ValueError("times need a UTC offset, e.g. 2026-01-01T00:00:00Z")
        return self


class AuditEntry(ApiModel):
    id: str
    at: datetime
    actor_id: str
    actor_name: str
    action: str
    target: str
    details: dict[str, Any]


class AuditPage(ApiModel):
    items: list[AuditEntry]
    next_cursor: str | None = None


class DeadLetter(ApiModel):
    message_id: str
    queue: str
    kind: str | None
    reason: str | None
    attempt: int | None
    dequeue_count: int
    inserted_at: str | None
    payload: Any = None


class DeadLetterPage(ApiModel):
    items: list[DeadLetter]
    next_cursor: str | None = None


class ReplayResult(ApiModel):
    message_id: str
    requeued_as: str
    queue: str


class RolesUpdate(StrictInput):
    model_config = ConfigDict(json_schema_extra={"examples": [{"roles": ["tutor", "admin"]}]})

    roles: list[Literal["student", "tutor", "admin"]] = Field(max_length=3)


class UserRoles(ApiModel):
    id: uuid.UUID
    name: str
    roles: list[str]


# --- users -----------------------------------------------------------------------------
class UserQuery(ApiModel):
    q: str | None = Field(None, min_length=1, max_length=100, description="A part of the name or email, any case.")
    role: Literal["student", "tutor", "admin"] | None = None
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, max_length=512)


class AdminUser(ApiModel):
    id: uuid.UUID
    name: str
    email: str | None = None
    roles: list[str]
    created_at: datetime


class AdminUserPage(ApiModel):
    items: list[AdminUser]
    next_cursor: str | None = None


# --- analytics -------------------------------------------------------------------------
ANALYTICS_DEFAULT_DAYS = 30
ANALYTICS_MAX_DAYS = 366


class AnalyticsQuery(ApiModel):
    from_: date | None = Field(None, alias="from", description="First UTC day (inclusive); default 29 days before `to`.")
    to: date | None = Field(None, description="Last UTC day (inclusive); default today.")

    @model_validator(mode="after")
    def _range(self) -> AnalyticsQuery:
        if self.from_ and self.to and self.from_ > self.to:
            raise ValueError("'from' must not be after 'to'")
        if self.from_ and self.to and (self.to - self.from_).days + 1 > ANALYTICS_MAX_DAYS:
            raise ValueError(f"at most {ANALYTICS_MAX_DAYS} days")
        return self


class AnalyticsDay(ApiModel):
    day: date = Field(description="A UTC day.")
    active_students: int = Field(description="Distinct students with watch progress or a quiz attempt that day.")
    enrollments: int
    live_classes: int = Field(description="Classes that ended that day after being started.")
    live_minutes: float = Field(description="Their minutes from start to end.")


class Revenue(ApiModel):
    provider: str
    currency: str
    purchases: int
    gross_cents: int
    refunded_cents: int
    net_cents: int = Field(description="Gross minus refunds, of the purchases paid in the range.")
    disputed_cents: int = Field(description="Part of net under dispute with the provider.")


class TopCourse(ApiModel):
    course_id: uuid.UUID
    title: str
    enrollments: int
    taken_down: bool


class PlatformAnalytics(ApiModel):
    from_: date = Field(alias="from")
    to: date
    days: list[AnalyticsDay]
    revenue: list[Revenue]
    live_classes: int
    live_minutes: float
    top_courses: list[TopCourse]


# --- takedowns -------------------------------------------------------------------------
class TakedownRequest(StrictInput):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "Copyright claim #123"}]})

    reason: str = Field(min_length=3, max_length=1000)


class Takedown(ApiModel):
    kind: Literal["course", "material"]
    id: uuid.UUID
    course_id: uuid.UUID
    taken_down: bool
    taken_down_at: datetime | None = None
    taken_down_reason: str | None = None
    taken_down_by: uuid.UUID | None = None
