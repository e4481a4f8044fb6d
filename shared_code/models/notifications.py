"""Wire models of the notification feed: the feed page, the filter, marking read."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from shared_code.domain.notifications import NotificationKind
from shared_code.models.base import ApiModel, StrictInput
from shared_code.pagination import DEFAULT_LIMIT, MAX_LIMIT

# The most ids one request may mark read (a page holds at most MAX_LIMIT).
MARK_READ_MAX_IDS = MAX_LIMIT


class Notification(ApiModel):
    id: uuid.UUID
    kind: NotificationKind
    title: str
    body: str
    data: dict[str, Any] = Field(
        description="What the notification is about: ids of the class, course, material, quiz attempt or purchase."
    )
    key: str = Field(
        description="Names the event (e.g. `material.published:<materialId>`); each user has at most one notification per key."
    )
    created_at: datetime
    read_at: datetime | None = None


class NotificationPage(ApiModel):
    items: list[Notification]
    next_cursor: str | None = None
    unread_count: int = Field(ge=0, description="The caller's unread notifications in all, whatever the filter.")


class NotificationQuery(ApiModel):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, max_length=512)
    unread: bool = Field(False, description="Only notifications not yet read.")


class MarkRead(StrictInput):
    """Either `ids` (the caller's own notifications; anyone else's are ignored) or `all: true`."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"ids": ["3f0c0b8e-8d1f-4b55-9a57-3c3f1f5e9d10"]}, {"all": True}]})

    ids: list[uuid.UUID] | None = Field(None, min_length=1, max_length=MARK_READ_MAX_IDS)
    all_: bool | None = Field(None, alias="all")

    @model_validator(mode="after")
    def _one_of(self) -> MarkRead:
        if (self.ids is None) == (self.all_ is None):
            raise ValueError("send either 'ids' or 'all', not both and not neither")
        if self.all_ is False:
            raise ValueError("'all' marks everything read; send true or leave it out")
        return self


class MarkReadResult(ApiModel):
    updated: int = Field(ge=0, description="How many of the caller's notifications changed from unread to read.")
    unread_count: int = Field(ge=0)
