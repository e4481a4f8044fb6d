"""Wire models of live classes: HTTP bodies and responses, and the client events that arrive
through the Web PubSub event handler."""

from __future__ import annotations

import uuid
from dataclasses import fields, is_dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, field_validator, model_validator

from shared_code.models.base import ApiModel, StrictInput, utc_instant

ClassStatus = Literal["scheduled", "live", "ended"]

# Reactions clients may send; anything else is refused (they are broadcast to everyone).
REACTION_EMOJI = ("👍", "👏", "❤️", "😂", "😮", "🎉", "🤔", "🙌")


# --- classes --------------------------------------------------------------------------
class ClassCreate(StrictInput):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"courseId": "6a1f0c52-8d3e-4b0a-9c71-5e2d4f8a1b33", "title": "Office hours", "scheduledAt": "2026-01-15T16:00:00Z"}
            ]
        }
    )

    course_id: uuid.UUID
    title: str = Field(min_length=1, max_length=200)
    scheduled_at: datetime

    @field_validator("scheduled_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return utc_instant(value)


class ClassUpdate(StrictInput):
    """Renames or reschedules a class that has not started; only the fields sent change."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"scheduledAt": "2026-01-15T17:30:00Z"}]})

    title: str | None = Field(None, min_length=1, max_length=200)
    scheduled_at: datetime | None = None

    @field_validator("scheduled_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return None if value is None else utc_instant(value)

    @model_validator(mode="after")
    def _something(self) -> ClassUpdate:
        if self.title is None and self.scheduled_at is None:
            raise ValueError("send title or scheduledAt (or both)")
        return self


class LiveClass(ApiModel):
    id: uuid.UUID
    course_id: uuid.UUID
    tutor_id: uuid.UUID
    title: str
    scheduled_at: datetime
    status: ClassStatus
    started_at: datetime | None = None
    ended_at: datetime | None = None
    created_at: datetime
    has_recording: bool = Field(False, description="Whether a recording is attached (play it with .../recording/playback).")

    @model_validator(mode="before")
    @classmethod
    def _recording(cls, value: object) -> object:
        # A stored row names its recording's asset; the wire says only whether there is one.
        if is_dataclass(value) and not isinstance(value, type):
            value = {f.name: getattr(value, f.name) for f in fields(value)}
        if isinstance(value, dict) and "recording_asset_id" in value:
            return {**value, "has_recording": value["recording_asset_id"] is not None}
        return value


class RecordingAttach(StrictInput):
    """The registered video asset (POST /api/videos) holding an ended class's recording."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"videoAssetId": "3f1c2a9e-6b1d-4c8e-9a57-2f0d8e4b7c11"}]})

    video_asset_id: uuid.UUID


class ClassListQuery(ApiModel):
    course_id: uuid.UUID
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, max_length=512)


class ClassPage(ApiModel):
    items: list[LiveClass]
    next_cursor: str | None = None


class Negotiated(ApiModel):
    url: str
    user_id: uuid.UUID
    expires_at: datetime


# --- chat -----------------------------------------------------------------------------
class ChatMessage(ApiModel):
    id: uuid.UUID
    class_id: uuid.UUID
    user_id: uuid.UUID
    user_name: str
    text: str
    seq: int
    at: datetime


class ChatQuery(ApiModel):
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = Field(None, max_length=512)


class ChatPage(ApiModel):
    items: list[ChatMessage]
    next_cursor: str | None = None


# --- polls ----------------------------------------------------------------------------
class PollCreate(StrictInput):
    model_config = ConfigDict(json_schema_extra={"examples": [{"question": "Ready for the quiz?", "options": ["Yes", "Not yet"]}]})

    question: str = Field(min_length=1, max_length=500)
    options: list[str] = Field(min_length=2, max_length=10)

    @field_validator("options")
    @classmethod
    def _options(cls, value: list[str]) -> list[str]:
        cleaned = [o.strip() for o in value]
        if any(not o or len(o) > 200 for o in cleaned):
            raise ValueError("every option needs 1 to 200 characters")
        return cleaned


class Poll(ApiModel):
    id: uuid.UUID
    class_id: uuid.UUID
    question: str
    options: list[str]
    status: Literal["open", "closed"]
    opened_at: datetime
    closed_at: datetime | None = None
    counts: list[int]
    total: int
    my_vote: int | None = None


# --- moderation -----------------------------------------------------------------------
ModerationAction = Literal["mute", "unmute", "remove", "deleteMessage", "lowerHand"]


class ModerationRequest(StrictInput):
    model_config = ConfigDict(json_schema_extra={"examples": [{"action": "mute", "userId": "0b7e4c1d-2f3a-4e5b-8c6d-7e8f9a0b1c2d"}]})

    action: ModerationAction
    user_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _target(self) -> ModerationRequest:
        if self.action == "deleteMessage":
            if self.message_id is None:
                raise ValueError("deleteMessage needs messageId")
        elif self.user_id is None:
            raise ValueError(f"{self.action} needs userId")
        return self


class ModerationResult(ApiModel):
    action: ModerationAction
    user_id: uuid.UUID | None = None
    message_id: uuid.UUID | None = None
    changed: bool
    seq: int | None = None


# --- state ----------------------------------------------------------------------------
class RaisedHand(ApiModel):
    user_id: uuid.UUID
    name: str
    raised_at: datetime


class ScreenShareState(ApiModel):
    stream_url: str
    started_at: datetime
    user_id: uuid.UUID


class ClassState(ApiModel):
    seq: int
    class_id: uuid.UUID
    status: ClassStatus
    presence_count: int
    open_poll: Poll | None = None
    raised_hands: list[RaisedHand]
    screen_share: ScreenShareState | None = None
    recent_chat: list[ChatMessage]
    muted: bool = False


# --- attendance -----------------------------------------------------------------------
class AttendanceRow(ApiModel):
    user_id: uuid.UUID
    user_name: str
    connection_id: str
    kind: Literal["join", "leave"]
    at: datetime


class StudentAttendance(ApiModel):
    user_id: uuid.UUID
    name: str
    minutes_present: float
    connections: int
    first_joined_at: datetime
    last_seen_at: datetime
    present: bool


class AttendanceReport(ApiModel):
    class_id: uuid.UUID
    rows: list[AttendanceRow]
    students: list[StudentAttendance]


# --- client events (through the Web PubSub event handler) -----------------------------
class ClientEvent(StrictInput):
    """Every client event may carry `ref`, echoed in the acknowledgement so the client can match it."""

    ref: str | None = Field(None, max_length=64)


class ChatEvent(ClientEvent):
    text: str = Field(max_length=20_000)


class VoteEvent(ClientEvent):
    poll_id: uuid.UUID
    option: int = Field(ge=0, le=9)


class RaiseHandEvent(ClientEvent):
    pass


class LowerHandEvent(ClientEvent):
    user_id: uuid.UUID | None = None


class ReactionEvent(ClientEvent):
    emoji: str = Field(max_length=16)


class ScreenShareEvent(ClientEvent):
    action: Literal["start", "stop"]
    stream_url: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _url(self) -> ScreenShareEvent:
        if self.action == "start":
            if not self.stream_url:
                raise ValueError("start needs streamUrl")
            parts = urlsplit(self.stream_url)
            if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
                raise ValueError("streamUrl must be an https URL without credentials")
            if any(c.isspace() for c in self.stream_url):
                raise ValueError("streamUrl must not contain spaces")
        return self
