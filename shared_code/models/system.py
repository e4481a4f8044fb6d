"""Wire models of the system endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from shared_code.models.base import ApiModel, StrictInput

Role = Literal["student", "tutor", "admin"]


class HealthChecks(ApiModel):
    postgres: str
    redis: str
    tables: str
    blobs: str
    queues: str
    webpubsub: str


class Health(ApiModel):
    status: Literal["ok", "degraded"]
    checks: HealthChecks
    # When the checks ran: health answers from a result at most a few seconds old.
    checked_at: datetime | None = None


class DevTokenRequest(StrictInput):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Ada Tutor", "roles": ["tutor"]}]})

    user_id: uuid.UUID | None = None
    name: str = Field(min_length=1, max_length=200)
    roles: list[Role] = Field(min_length=1, max_length=3)


class DevToken(ApiModel):
    token: str
    expires_at: datetime
    user_id: uuid.UUID
