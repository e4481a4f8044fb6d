"""Wire models of the admin endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
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
