"""Wire models of the content area: courses, lessons, playback, materials, enrolment, payments."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from shared_code.models.base import ApiModel, StrictInput
from shared_code.pagination import PageQuery

LessonKind = Literal["video", "document", "quiz"]

# Asset ids end up in CDN paths, so only characters that need no escaping there.
ASSET_ID_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
MAX_PRICE_CENTS = 10_000_000
# ISO 4217 alphabetic code; stored in capitals (the server upper-cases what it is sent).
CURRENCY_PATTERN = r"^[A-Za-z]{3}$"
# Only the course's tutor and admins ever see something taken down; to them it is read-only.
TAKEN_DOWN_NOTE = "Set while an admin has taken it down (seen by its tutor and admins only)."


# --- courses ---------------------------------------------------------------------------
class CourseCreate(StrictInput):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"title": "Algebra I", "description": "Equations, step by step.", "priceCents": 4900, "currency": "EUR"}]
        }
    )

    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    price_cents: int = Field(0, ge=0, le=MAX_PRICE_CENTS)
    currency: str | None = Field(None, pattern=CURRENCY_PATTERN, description="ISO 4217; omitted means the server's default.")


class CourseUpdate(StrictInput):
    """Every field optional; only those sent change. `published: true` publishes."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"published": True}]})

    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=10_000)
    price_cents: int | None = Field(None, ge=0, le=MAX_PRICE_CENTS)
    currency: str | None = Field(None, pattern=CURRENCY_PATTERN)
    published: bool | None = None


class Course(ApiModel):
    id: uuid.UUID
    title: str
    description: str
    price_cents: int
    # Rows cached before the column existed carry none; the column's own default stands in.
    currency: str = "USD"
    published: bool
    owner_id: uuid.UUID
    published_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    taken_down_at: datetime | None = Field(None, description=TAKEN_DOWN_NOTE)
    taken_down_reason: str | None = None


class CoursePage(ApiModel):
    items: list[Course]
    next_cursor: str | None = None


class CourseQuery(PageQuery):
    """The catalog's search and filters; each optional, all of them must hold."""

    q: str | None = Field(
        None, max_length=200,
        description="Full-text search over title and description (web search syntax: words, \"a phrase\", "
        "-excluded, or). With it the best matches come first; without it the newest courses do.",
    )
    price: Literal["free", "paid"] | None = None
    tutor_id: uuid.UUID | None = Field(None, description="Only this tutor's courses.")
    published_from: datetime | None = Field(
        None, description="First published at or after this time (a time without an offset is UTC)."
    )
    published_to: datetime | None = Field(None, description="First published before this time.")

    @field_validator("q")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("published_from", "published_to")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    @model_validator(mode="after")
    def _range(self) -> CourseQuery:
        if self.published_from and self.published_to and self.published_from > self.published_to:
            raise ValueError("'publishedFrom' must not be after 'publishedTo'")
        return self


# --- lessons ---------------------------------------------------------------------------
class LessonCreate(StrictInput):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "title": "Linear equations",
                    "kind": "video",
                    "videoAssetId": "3f1c2a9e-6b1d-4c8e-9a57-2f0d8e4b7c11",
                    "durationSeconds": 600,
                }
            ]
        }
    )

    title: str = Field(min_length=1, max_length=200)
    kind: LessonKind
    video_asset_id: str | None = Field(None, pattern=ASSET_ID_PATTERN)
    duration_seconds: int | None = Field(None, gt=0, le=86_400)
    material_id: uuid.UUID | None = Field(
        None, description="Document lessons only: the course material whose download completes the lesson."
    )
    position: int | None = Field(None, ge=0, le=10_000, description="Zero-based; omitted means last.")


class LessonUpdate(StrictInput):
    """Every field optional; only those sent change. The kind and the position stay."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"title": "Linear equations, part 1"}]})

    title: str | None = Field(None, min_length=1, max_length=200)
    video_asset_id: str | None = Field(None, pattern=ASSET_ID_PATTERN)
    duration_seconds: int | None = Field(None, gt=0, le=86_400)
    material_id: uuid.UUID | None = Field(None, description="Document lessons only: the material that completes it.")


class Lesson(ApiModel):
    id: uuid.UUID
    course_id: uuid.UUID
    title: str
    kind: LessonKind
    video_asset_id: str | None = Field(None, description="Shown to the course's tutor and admins only.")
    has_video: bool = False
    duration_seconds: int | None = None
    material_id: uuid.UUID | None = Field(
        None, description="Document lessons: the material whose download by an enrolled student completes the lesson."
    )
    position: int
    created_at: datetime
    updated_at: datetime


class CourseDetail(Course):
    lessons: list[Lesson]


class LessonOrder(StrictInput):
    """The course's lessons in their new order: every lesson exactly once."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"lessonIds": ["3f1c2a9e-6b1d-4c8e-9a57-2f0d8e4b7c11", "9b2d7e40-1c5a-4f3e-8d61-0a7c3e5b9f22"]}]
        }
    )

    lesson_ids: list[uuid.UUID] = Field(max_length=1000)


# --- video assets ----------------------------------------------------------------------
VideoProvider = Literal["cdn", "mux"]


class VideoCreate(StrictInput):
    """Registers a video; the caller owns it, and only their courses' lessons may use it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"title": "Linear equations", "durationSeconds": 600, "provider": "cdn"}]})

    title: str = Field(min_length=1, max_length=200)
    duration_seconds: int | None = Field(None, gt=0, le=86_400)
    provider: VideoProvider = Field("cdn", description="Who streams it; both sign playback the Mux way.")
    course_id: uuid.UUID | None = Field(None, description="Binds the asset to one course the caller manages.")


class Video(ApiModel):
    id: uuid.UUID = Field(description="What a lesson's videoAssetId names.")
    owner_id: uuid.UUID
    course_id: uuid.UUID | None = None
    title: str
    duration_seconds: int | None = None
    provider: VideoProvider
    playback_id: str = Field(description="What the CDN knows the video by.")
    created_at: datetime


class VideoPage(ApiModel):
    items: list[Video]
    next_cursor: str | None = None


class Playback(ApiModel):
    url: str
    expires_at: datetime


# --- materials -------------------------------------------------------------------------
class MaterialUploadRequest(StrictInput):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"fileName": "worksheet.pdf", "contentType": "application/pdf", "sizeBytes": 48213}]}
    )

    file_name: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=3, max_length=200)
    size_bytes: int = Field(gt=0)


class MaterialUpload(ApiModel):
    material_id: uuid.UUID
    upload_url: str
    expires_at: datetime
    required_headers: dict[str, str] = Field(
        description="Headers the PUT to uploadUrl must carry so publishing finds the type it was told."
    )


class Material(ApiModel):
    id: uuid.UUID
    course_id: uuid.UUID
    file_name: str
    content_type: str
    size_bytes: int
    status: Literal["pending", "published"]
    created_at: datetime
    published_at: datetime | None = None
    taken_down_at: datetime | None = Field(None, description=TAKEN_DOWN_NOTE)
    taken_down_reason: str | None = None


class MaterialPage(ApiModel):
    items: list[Material]
    next_cursor: str | None = None


class Download(ApiModel):
    url: str
    expires_at: datetime


# --- enrolment and payments ------------------------------------------------------------
class EnrollmentRequest(StrictInput):
    model_config = ConfigDict(json_schema_extra={"examples": [{}]})

    user_id: uuid.UUID | None = Field(None, description="Admins only: whom to enrol (default: the caller).")


class Enrollment(ApiModel):
    id: uuid.UUID = Field(description="Derived from courseId and userId; the same pair always has the same id.")
    course_id: uuid.UUID
    user_id: uuid.UUID
    source: Literal["self", "admin", "payment"]
    created_at: datetime


class WebhookReceipt(ApiModel):
    received: bool
    event_id: str
    duplicate: bool
    outcome: str
