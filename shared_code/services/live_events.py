"""The Web PubSub event handler's logic: connect, connected, disconnected, and client events.

`connect` is the gate: the user must still be a member of the class's course, not removed
from the class, and the class not ended. An accepted connection is put in three groups,
`class.{classId}`, `course.{courseId}` and `user.{userId}`, and gets a connection state
(class, course, role, name) that Web PubSub hands back on every later event of that
connection, so no event needs a lookup to know its class.

Client events answer 200 with an acknowledgement, `{type: "ack", classId, seq, at, event,
ok, ref?, reason?, detail?, retryAfterMs?, ...}`, which Web PubSub delivers to the sender
only. A refused event is `ok: false` with a `reason` slug (`muted`, `rate-limited`,
`poll-closed`, `invalid`, ...), never an error status: the sender always learns why, and
the service's own ack of the frame reports that the server received it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from pydantic import BaseModel, ValidationError
from redis.exceptions import RedisError

from shared_code import problems
from shared_code.adapters.postgres import enrollments as enrollments_sql
from shared_code.adapters.postgres import users as users_sql
from shared_code.adapters.redis import live as live_redis
from shared_code.context import AppContext
from shared_code.errors import Forbidden, NotFound
from shared_code.models.live import (
    ChatEvent,
    LowerHandEvent,
    RaiseHandEvent,
    ReactionEvent,
    ScreenShareEvent,
    VoteEvent,
)
from shared_code.services import chat, class_access, hands, live_messages, polls, presence, stage, users
from shared_code.services.class_access import Member
from shared_code.services.live_messages import Refused

logger = logging.getLogger("lectern.live")

SUBPROTOCOLS = ("json.webpubsub.azure.v1", "json.reliable.webpubsub.azure.v1")
TYPE_PREFIX = "azure.webpubsub."
STATE_HEADER = "ce-connectionState"


@dataclass(frozen=True)
class UpstreamEvent:
    """One CloudEvents call from Web PubSub, as the handler parsed its headers."""

    ce_type: str
    event_name: str
    connection_id: str
    user_id: str
    connection_state: str | None
    body: bytes


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


# --- connection state -------------------------------------------------------------------------
def encode_state(member: Member) -> str:
    raw = json.dumps(
        {"classId": member.class_id, "courseId": member.course_id, "role": member.role, "name": member.name},
        separators=(",", ":"),
    )
    return base64.b64encode(raw.encode()).decode()


def decode_state(value: str | None, connection_id: str, user_id: str) -> Member | None:
    if not value:
        return None
    try:
        data = json.loads(base64.b64decode(value, validate=True))
        return Member(
            connection_id=connection_id,
            user_id=user_id,
            class_id=str(uuid.UUID(data["classId"])),
            course_id=str(data["courseId"]),
            role=str(data["role"]),
            name=str(data.get("name", "")),
        )
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None


# --- dispatch ---------------------------------------------------------------------------------
async def handle(ctx: AppContext, event: UpstreamEvent) -> Reply:
    if not event.ce_type.startswith(TYPE_PREFIX):
        return Reply(400, problems.problem_body(400, "Not a Web PubSub event", type_slug="bad-request"))
    kind = event.ce_type[len(TYPE_PREFIX):]
    if kind == "sys.connect":
        return await connect(ctx, event)
    member = decode_state(event.connection_state, event.connection_id, event.user_id)
    if kind == "sys.connected":
        if member is not None:
            await presence.joined(ctx, member.class_id, member.connection_id, member.user_id, member.name)
        return Reply(204)
    if kind == "sys.disconnected":
        if member is not None:
            await disconnected(ctx, member)
        return Reply(204)
    if kind.startswith("user."):
        return await user_event(ctx, member, event)
    return Reply(400, problems.problem_body(400, f"Unknown event type {event.ce_type[:100]}", type_slug="bad-request"))


def _refuse(status: int, detail: str) -> Reply:
    return Reply(status, detail)


PERSONAL_SCOPE = "personal"


def _first(value: Any) -> Any:
    return (value[0] if value else None) if isinstance(value, list) else value


async def connect_personal(ctx: AppContext, event: UpstreamEvent, body: dict[str, Any]) -> Reply:
    """A connection outside any class: the student's own pushes (`progress.updated`,
    `quiz.graded`) and their courses' `material.published`. It joins no class, so its
    client events are refused like any event without a class."""
    try:
        user_uuid = str(uuid.UUID(event.user_id))
    except ValueError:
        return _refuse(401, "Only users with a negotiated token may connect.")
    async with ctx.db.connection() as conn:
        if await users_sql.get_user(conn, user_uuid) is None:
            return _refuse(401, "Unknown user.")
        course_ids = await enrollments_sql.course_ids_of(conn, user_uuid)
    reply: dict[str, Any] = {
        "userId": user_uuid,
        "groups": [live_messages.user_group(user_uuid), *(live_messages.course_group(c) for c in course_ids)],
    }
    offered = body.get("subprotocols") or []
    chosen = next((p for p in offered if p in SUBPROTOCOLS), None) if isinstance(offered, list) else None
    if chosen:
        reply["subprotocol"] = chosen
    return Reply(200, reply)


async def connect(ctx: AppContext, event: UpstreamEvent) -> Reply:
    try:
        body = json.loads(event.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return _refuse(400, "The connect event body is not JSON.")
    if not isinstance(body, dict):
        return _refuse(400, "The connect event body is not an object.")
    query = body.get("query") or {}
    if isinstance(query, dict) and "classId" not in query and _first(query.get("scope")) == PERSONAL_SCOPE:
        return await connect_personal(ctx, event, body)
    raw = query.get("classId") if isinstance(query, dict) else None
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    try:
        class_id = str(uuid.UUID(str(raw)))
    except ValueError:
        return _refuse(400, "Connect with the URL negotiate returned: it names the class.")
    if not event.user_id:
        return _refuse(401, "Only users with a negotiated token may connect.")
    try:
        user_uuid = str(uuid.UUID(event.user_id))
    except ValueError:
        return _refuse(401, "Unknown user.")
    # The same stored roles HTTP requests get (services/users.py), so both paths agree.
    principal = await users.stored_principal(ctx, user_uuid)
    if principal is None:
        return _refuse(401, "Unknown user.")
    try:
        found = await class_access.require_member(ctx, principal, class_id)
    except NotFound:
        return _refuse(404, "No such class.")
    except Forbidden as exc:
        return _refuse(403, exc.detail or "Not a member of this class.")
    if found.status == "ended":
        return _refuse(403, "The class has ended.")
    if found.role == "student" and not principal.has_role("student"):
        return _refuse(403, "Only enrolled students, the tutor and admins may join.")
    member = Member(
        connection_id=event.connection_id, user_id=user_uuid, class_id=class_id, course_id=found.course_id,
        role=found.role, name=principal.name,
    )
    reply: dict[str, Any] = {
        "userId": user_uuid,
        "groups": [
            live_messages.class_group(class_id),
            live_messages.course_group(found.course_id),
            live_messages.user_group(user_uuid),
        ],
    }
    offered = body.get("subprotocols") or []
    chosen = next((p for p in offered if p in SUBPROTOCOLS), None) if isinstance(offered, list) else None
    if chosen:
        reply["subprotocol"] = chosen
    return Reply(200, reply, {STATE_HEADER: encode_state(member)})


async def disconnected(ctx: AppContext, member: Member) -> None:
    last, _ = await presence.left(ctx, member.class_id, member.connection_id, member.user_id, member.name)
    if last:
        # Nobody answers a hand whose owner has gone.
        await hands.lower(ctx, member.class_id, member.user_id, by=member.user_id)


ClientHandler = Callable[[AppContext, Member, Any], Awaitable[dict]]

CLIENT_EVENTS: dict[str, tuple[type[BaseModel], ClientHandler]] = {
    "chat": (ChatEvent, chat.post),
    "vote": (VoteEvent, polls.vote),
    "raiseHand": (RaiseHandEvent, hands.raise_hand),
    "lowerHand": (LowerHandEvent, hands.lower_hand),
    "reaction": (ReactionEvent, stage.react),
    "screenShare": (ScreenShareEvent, stage.screen_share),
}


def _invalid_detail(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg", "invalid")))
    return "; ".join(parts)


async def _current_seq(ctx: AppContext, class_id: str) -> int:
    try:
        return await live_redis.current_seq(ctx.redis, class_id)
    except RedisError:
        return 0


def _ref_of(body: bytes) -> str | None:
    try:
        data = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        return None
    ref = data.get("ref") if isinstance(data, dict) else None
    return ref[:64] if isinstance(ref, str) else None


async def user_event(ctx: AppContext, member: Member | None, event: UpstreamEvent) -> Reply:
    name = event.event_name or event.ce_type.rsplit(".", 1)[-1]
    if member is None:
        # A personal connection (or a lost state): still answer with an ack, so the
        # sender learns why instead of waiting for one.
        return Reply(200, live_messages.ack(name, "", 0, ok=False, ref=_ref_of(event.body), reason="no-class",
                                            detail="This connection is not in a class; join one through negotiate."))
    ref: str | None = None
    try:
        try:
            data = json.loads(event.body) if event.body and event.body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            raise Refused("invalid", "Send the event's data as JSON.") from None
        if isinstance(data, dict) and isinstance(data.get("ref"), str):
            ref = data["ref"][:64]
        if name not in CLIENT_EVENTS:
            raise Refused("unknown-event", f"Events are {', '.join(CLIENT_EVENTS)}.")
        model, handler = CLIENT_EVENTS[name]
        try:
            parsed = model.model_validate(data)
        except ValidationError as exc:
            raise Refused("invalid", _invalid_detail(exc)) from None
        result = await handler(ctx, member, parsed)
        seq = result.pop("seq", None) or await _current_seq(ctx, member.class_id)
        return Reply(200, live_messages.ack(name, member.class_id, seq, ok=True, ref=ref, **result))
    except Refused as refusal:
        fields: dict[str, Any] = {"reason": refusal.reason}
        if refusal.detail:
            fields["detail"] = refusal.detail
        if refusal.retry_after_ms is not None:
            fields["retryAfterMs"] = refusal.retry_after_ms
        seq = await _current_seq(ctx, member.class_id)
        return Reply(200, live_messages.ack(name, member.class_id, seq, ok=False, ref=ref, **fields))
    except RedisError as exc:
        logger.warning("%s event refused, Redis unavailable: %s", name, type(exc).__name__)
        return Reply(
            200,
            live_messages.ack(name, member.class_id, 0, ok=False, ref=ref, reason="unavailable",
                              detail="Live features are briefly unavailable; try again."),
        )


def allowed_origin(requested: str | None, service_host: str | None) -> str | None:
    """The `WebHook-Allowed-Origin` answer to the abuse-protection handshake, or None to refuse.

    Only the Web PubSub service the app is configured for may deliver events.
    """
    if not requested:
        return None
    host = requested.strip().lower()
    if "://" in host:
        host = host.split("://", 1)[1]
    host = host.split("/", 1)[0]
    if service_host is None:
        return requested.strip()
    bare = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    expected = service_host.lower()
    if bare == expected or host == expected or (bare in _LOOPBACK and expected in _LOOPBACK):
        return requested.strip()
    return None


_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
