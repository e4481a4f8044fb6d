"""Every WebSocket message of a live class, as a contract (docs/live-classes.md).

Client → server: the Web PubSub `event` frames a page sends (`chat`, `vote`, ...), whose
`data` is the event model the event handler parses (`shared_code/models/live.py`).
Server → client: the messages the app sends to a class group (`class.{classId}`), a course
group (`course.{courseId}`) or one user (`user.{userId}`), and the acknowledgement of each
client event. They are published as the AsyncAPI document `docs/asyncapi.json`
(`shared_code/asyncapi.py`); the live end-to-end tests check every message they receive
against it, so a message the server changes without changing its model fails there.

Server messages refuse unknown fields: a field the server adds must be added here first,
which is what makes it part of what generated clients know.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared_code.domain.notifications import NotificationKind
from shared_code.models.base import ApiModel
from shared_code.models.live import (
    ChatEvent,
    ClassStatus,
    LowerHandEvent,
    RaiseHandEvent,
    ReactionEvent,
    ScreenShareEvent,
    VoteEvent,
)


class ServerMessage(ApiModel):
    """What every message from the server carries."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    at: datetime = Field(description="When the change happened (UTC).")


class ClassMessage(ServerMessage):
    """A message to the class group. `seq` is the class's counter: a jump of more than one means
    something was missed; then load `GET /api/classes/{classId}/state`."""

    class_id: uuid.UUID
    seq: int = Field(ge=1)


# --- class group ---------------------------------------------------------------------------
class ClassStarted(ClassMessage):
    type: Literal["class.started"]
    status: ClassStatus
    title: str


class ClassEnded(ClassMessage):
    """The last message of a class; then the connections leave the class group."""

    type: Literal["class.ended"]
    status: ClassStatus
    title: str


class PresenceUpdated(ClassMessage):
    """Throttled: the state at the moment it is sent."""

    type: Literal["presence.updated"]
    count: int = Field(ge=0, description="Distinct people present; several tabs count once.")


class ChatPosted(ClassMessage):
    type: Literal["chat.message"]
    id: uuid.UUID
    user_id: uuid.UUID
    user_name: str
    text: str


class ChatDeleted(ClassMessage):
    type: Literal["chat.deleted"]
    message_id: uuid.UUID
    by: uuid.UUID


class PollSummary(ApiModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    id: uuid.UUID
    question: str
    options: list[str]
    status: Literal["open", "closed"]
    opened_at: datetime
    counts: list[int] = Field(description="Votes per option, in the order of `options`.")
    total: int


class PollOpened(ClassMessage):
    type: Literal["poll.opened"]
    poll: PollSummary


class PollTally(ClassMessage):
    """Throttled: the counts at the moment it is sent."""

    type: Literal["poll.tally"]
    poll_id: uuid.UUID
    counts: list[int]
    total: int


class PollClosed(ClassMessage):
    """Counts are exactly the stored votes."""

    type: Literal["poll.closed"]
    poll_id: uuid.UUID
    counts: list[int]
    total: int
    poll: PollSummary


class HandRaised(ClassMessage):
    type: Literal["hand.raised"]
    user_id: uuid.UUID
    name: str
    raised_at: datetime


class HandLowered(ClassMessage):
    """One hand (`userId`), or every hand when the class ended (`userId: null, all: true`)."""

    type: Literal["hand.lowered"]
    user_id: uuid.UUID | None
    by: uuid.UUID
    all: Literal[True] | None = Field(None, description="Present (true) only when every hand went down.")


class Reactions(ClassMessage):
    """Throttled: the reactions since the previous reaction message."""

    type: Literal["reaction"]
    counts: dict[str, int] = Field(description="Emoji → how many sent it.")


class ScreenShareStarted(ClassMessage):
    type: Literal["screenShare.started"]
    stream_url: str
    user_id: uuid.UUID


class ScreenShareStopped(ClassMessage):
    type: Literal["screenShare.stopped"]
    user_id: uuid.UUID


class ModerationMuted(ClassMessage):
    type: Literal["moderation.muted"]
    user_id: uuid.UUID
    muted: bool = Field(description="True for mute, false for unmute.")
    by: uuid.UUID


class ModerationRemoved(ClassMessage):
    """The user's connections to the class are closed next."""

    type: Literal["moderation.removed"]
    user_id: uuid.UUID
    by: uuid.UUID


# --- to the sender only -------------------------------------------------------------------
AckReason = Literal[
    "empty", "too-long", "muted", "removed", "rate-limited", "class-ended", "class-not-live", "poll-closed",
    "no-such-poll", "invalid-option", "invalid-emoji", "forbidden", "invalid", "too-deep", "too-large",
    "unknown-event", "invalid-state", "unavailable", "no-class",
]


class Ack(ServerMessage):
    """The server's answer to one client event, to its sender only. It carries the class's
    current `seq` without taking a new one (0 and an empty `classId` outside a class)."""

    type: Literal["ack"]
    class_id: uuid.UUID | Literal[""]
    seq: int = Field(ge=0)
    event: str = Field(description="The client event answered.")
    ok: bool
    ref: str | None = Field(None, description="The `ref` the client sent in the event's data.")
    reason: AckReason | None = Field(None, description="Why the event was refused (`ok: false`).")
    detail: str | None = None
    retry_after_ms: int | None = Field(None, description="With `rate-limited`: when to try again.")
    message_id: uuid.UUID | None = Field(None, description="`chat`: the stored message's id.")
    changed: bool | None = None
    user_id: uuid.UUID | None = Field(None, description="`lowerHand`: whose hand.")
    emoji: str | None = None
    action: Literal["start", "stop"] | None = None
    poll_id: uuid.UUID | None = None
    option: int | None = None


# --- course group -------------------------------------------------------------------------
class MaterialPublished(ServerMessage):
    """To `course.{courseId}`: every enrolled member's connections."""

    type: Literal["material.published"]
    course_id: uuid.UUID
    material_id: uuid.UUID
    file_name: str


class NotificationCreated(ServerMessage):
    """A new entry of the recipient's notification feed (`GET /api/me/notifications`). To one
    user (`user.{userId}`) it carries the notification's `id`; to a course's members at once
    (`course.{courseId}`, when many students receive the same one) it carries no `id`, only
    the `key` every recipient's notification shares: refetch the feed for the ids. The same
    `key` may arrive twice; show it once."""

    type: Literal["notification.created"]
    id: uuid.UUID | None = None
    kind: NotificationKind
    title: str
    body: str
    data: dict[str, Any]
    key: str


# --- one user -----------------------------------------------------------------------------
class ProgressUpdated(ServerMessage):
    type: Literal["progress.updated"]
    lesson_id: uuid.UUID
    course_id: uuid.UUID
    completed: bool
    course_progress: float = Field(ge=0, le=1)


class QuizGraded(ServerMessage):
    type: Literal["quiz.graded"]
    quiz_id: uuid.UUID
    course_id: uuid.UUID
    attempt_id: uuid.UUID
    attempt_no: int
    score: int
    max_score: int


class PurchaseCompleted(ServerMessage):
    type: Literal["purchase.completed"]
    purchase_id: uuid.UUID
    course_id: uuid.UUID


class PurchaseRefunded(ServerMessage):
    type: Literal["purchase.refunded"]
    purchase_id: uuid.UUID
    course_id: uuid.UUID
    amount_cents: int
    currency: str


CLASS_MESSAGES: tuple[type[ClassMessage], ...] = (
    ClassStarted, ClassEnded, PresenceUpdated, ChatPosted, ChatDeleted, PollOpened, PollTally, PollClosed,
    HandRaised, HandLowered, Reactions, ScreenShareStarted, ScreenShareStopped, ModerationMuted, ModerationRemoved,
)
COURSE_MESSAGES: tuple[type[ServerMessage], ...] = (MaterialPublished, NotificationCreated)
USER_MESSAGES: tuple[type[ServerMessage], ...] = (
    ProgressUpdated, QuizGraded, PurchaseCompleted, PurchaseRefunded, NotificationCreated,
)
SERVER_MESSAGES: tuple[type[ServerMessage], ...] = tuple(
    dict.fromkeys((*CLASS_MESSAGES, Ack, *COURSE_MESSAGES, *USER_MESSAGES))
)


def message_type(model: type[ServerMessage]) -> str:
    """The `type` value a server message model stands for."""
    return str(model.model_fields["type"].annotation.__args__[0])  # type: ignore[union-attr]


# --- client → server ----------------------------------------------------------------------
class ClientFrame(ApiModel):
    """A Web PubSub `event` frame (subprotocol `json.webpubsub.azure.v1`). `ackId` asks the
    service to confirm the frame reached the server; the app's own `ack` message says what
    became of it."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    type: Literal["event"]
    ack_id: int | None = Field(None, ge=1)
    data_type: Literal["json"]


class ChatFrame(ClientFrame):
    event: Literal["chat"]
    data: ChatEvent


class VoteFrame(ClientFrame):
    event: Literal["vote"]
    data: VoteEvent


class RaiseHandFrame(ClientFrame):
    event: Literal["raiseHand"]
    data: RaiseHandEvent


class LowerHandFrame(ClientFrame):
    event: Literal["lowerHand"]
    data: LowerHandEvent


class ReactionFrame(ClientFrame):
    event: Literal["reaction"]
    data: ReactionEvent


class ScreenShareFrame(ClientFrame):
    """The class's tutor only."""

    event: Literal["screenShare"]
    data: ScreenShareEvent


CLIENT_FRAMES: tuple[type[ClientFrame], ...] = (
    ChatFrame, VoteFrame, RaiseHandFrame, LowerHandFrame, ReactionFrame, ScreenShareFrame,
)


def event_name(model: type[ClientFrame]) -> str:
    return str(model.model_fields["event"].annotation.__args__[0])  # type: ignore[union-attr]
