"""The Web PubSub event handler's logic: connect, connected, disconnected, and client events.

`connect` is the gate: the user must still be a member of the class's course, not removed
from the class, and the class not ended, and neither the user's connections to the class
nor the class's own may pass their caps (one account must not use up a Web PubSub unit;
a user's personal connections outside any class have the same per-user cap).
An accepted connection is put in three groups, `class.{classId}`, `course.{courseId}` and
`user.{userId}`, and gets a connection state (class, course, role, name) that Web PubSub
hands back on every later event of that connection, so no event needs a lookup to know
its class.

The member is present (and has an attendance row) from the moment `connect` accepts it:
Web PubSub always sends `disconnected` for a connection whose `connect` answered 2xx, even
when its handshake then fails, so the leave that undoes the join is certain. The hub
therefore does not subscribe to `connected`: one upstream call per connection fewer. A
`connected` that still arrives (a hub configured with it) has nothing left to do.

Negotiate's join ticket (`connection_state.py`) lets `connect` skip PostgreSQL: it is
checked against what could have been revoked since in one round of Redis reads
(`admission.admit_ticketed`); a connect without a valid one is checked in full.

That state decides access, so it is signed by the app and bound to the connection and
user it was issued to (`connection_state.py`); a state that fails the check is no state:
the event is refused, never trusted. The caps are counted in `admission.py`.

Client events answer 200 with an acknowledgement, `{type: "ack", classId, seq, at, event,
ok, ref?, reason?, detail?, retryAfterMs?, ...}`, which Web PubSub delivers to the sender
only. A refused event is `ok: false` with a `reason` slug (`muted`, `rate-limited`,
`poll-closed`, `invalid`, ...), never an error status: the sender always learns why, and
the service's own ack of the frame reports that the server received it. A hostile frame
(too large, nested too deep, not UTF-8, the wrong shape) is refused the same way before it
is parsed, and the connection and the class go on.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from redis.exceptions import RedisError

from shared_code import json_codec, logs, metrics, problems
from shared_code.adapters.postgres import enrollments as enrollments_sql
from shared_code.adapters.postgres import users as users_sql
from shared_code.adapters.redis import live as live_redis
from shared_code.context import AppContext
from shared_code.errors import Forbidden, NotFound
from shared_code.json_limits import too_deep
from shared_code.models.live import (
    ChatEvent,
    LowerHandEvent,
    RaiseHandEvent,
    ReactionEvent,
    ScreenShareEvent,
    VoteEvent,
)
from shared_code.platform import users
from shared_code.services.live import admission, chat, class_access, hands, polls, presence, stage
from shared_code.services.live import messages as live_messages
from shared_code.services.live.class_access import Member
from shared_code.services.live.connection_state import decode_state, decode_ticket, encode_state, state_key
from shared_code.services.live.messages import Refused

logger = logging.getLogger("lectern.live")

SUBPROTOCOLS = ("json.webpubsub.azure.v1", "json.reliable.webpubsub.azure.v1")
TYPE_PREFIX = "azure.webpubsub."
STATE_HEADER = "ce-connectionState"
# No client event needs more: a chat message is at most a few thousand characters.
MAX_EVENT_BYTES = 16 * 1024


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


# --- dispatch ---------------------------------------------------------------------------------
async def handle(ctx: AppContext, event: UpstreamEvent) -> Reply:
    if not event.ce_type.startswith(TYPE_PREFIX):
        return Reply(400, problems.problem_body(400, "Not a Web PubSub event", type_slug="bad-request"))
    kind = event.ce_type[len(TYPE_PREFIX):]
    if kind == "sys.connect":
        return await connect(ctx, event)
    member = decode_state(event.connection_state, event.connection_id, event.user_id, state_key(ctx.settings))
    if member is None and event.connection_state:
        logger.warning("%s with a connection state this app did not sign refused (connection %s)",
                       kind, event.connection_id[:64])
        if kind.startswith("user."):
            return Reply(200, live_messages.ack(_event_name(event), "", 0, ok=False, reason="invalid-state",
                                                detail="This connection's state was not issued by this server; "
                                                       "reconnect through negotiate."))
        return Reply(204)
    if member is not None:
        logs.bind(class_id=member.class_id, course_id=member.course_id, user_id=member.user_id)  # reset by `observed`
    if kind == "sys.connected":
        return Reply(204)  # the member joined when `connect` accepted it
    if kind == "sys.disconnected":
        if member is not None:
            await disconnected(ctx, member)
            metrics.connection_changed(member.class_id, -1)
        return Reply(204)
    if kind.startswith("user."):
        started = time.perf_counter()
        reply = await user_event(ctx, member, event)
        name = _event_name(event)
        metrics.client_event(name if name in CLIENT_EVENTS else "other", (time.perf_counter() - started) * 1000)
        return reply
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
        user = await users_sql.get_user(conn, user_uuid)
        if user is None or user.erased_at is not None:
            return _refuse(401, "Unknown user.")
        course_ids = await enrollments_sql.course_ids_of(conn, user_uuid)
    refusal = await admission.admit_personal(ctx, user_uuid, event.connection_id)
    if refusal is not None:
        return _refuse(429, refusal)
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
    if event.connection_state:
        # Web PubSub has no state for a connection before the handler's answer sets it.
        return _refuse(400, "A connect event carries no connection state; this one did not come from the service.")
    if too_deep(event.body, ctx.settings.max_json_depth):
        return _refuse(400, "The connect event body is nested too deeply.")
    try:
        body = json.loads(event.body or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):
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
    ticket = decode_ticket(_first(query.get("ticket")), user_uuid, class_id, live_messages.now_ms(),
                           state_key(ctx.settings))
    if ticket is not None:
        ticketed = await admission.admit_ticketed(ctx, event.connection_id, ticket)
        if ticketed is not None:
            presence.admitted(ctx, ticketed.member, ticketed.join, ticketed.claimed)
            return _accepted(ctx, body, ticketed.member)
    # The same stored roles HTTP requests get (platform/users.py), so both paths agree.
    principal = await users.stored_principal(ctx, user_uuid)
    if principal is None:
        return _refuse(401, "Unknown user.")
    try:
        found = await class_access.require_member(ctx, principal, class_id)
    except NotFound:
        return _refuse(404, "No such class.")
    except Forbidden as exc:
        return _refuse(403, exc.detail or "Not a member of this class.")
    if found.course.frozen:
        return _refuse(403, "This course was taken down by an admin.")
    if found.status == "ended":
        return _refuse(403, "The class has ended.")
    if found.role == "student" and not principal.has_role("student"):
        return _refuse(403, "Only enrolled students, the tutor and admins may join.")
    member = Member(
        connection_id=event.connection_id, user_id=user_uuid, class_id=class_id, course_id=found.course_id,
        role=found.role, name=principal.name,
    )
    refusal = await admission.admit(ctx, member)
    if refusal is not None:
        return _refuse(429, refusal)
    try:
        await presence.joined(ctx, member.class_id, member.connection_id, member.user_id, member.name)
    except RedisError as exc:  # let in unseen, as the caps let it in uncounted: the class matters more
        logger.warning("presence not recorded, Redis unavailable: %s", type(exc).__name__)
    return _accepted(ctx, body, member)


def _accepted(ctx: AppContext, body: dict[str, Any], member: Member) -> Reply:
    """The answer that lets an admitted (and now present) member in: its groups, subprotocol
    and signed state."""
    metrics.connection_changed(member.class_id, 1)
    reply: dict[str, Any] = {
        "userId": member.user_id,
        "groups": [
            live_messages.class_group(member.class_id),
            live_messages.course_group(member.course_id),
            live_messages.user_group(member.user_id),
        ],
    }
    offered = body.get("subprotocols") or []
    chosen = next((p for p in offered if p in SUBPROTOCOLS), None) if isinstance(offered, list) else None
    if chosen:
        reply["subprotocol"] = chosen
    return Reply(200, reply, {STATE_HEADER: encode_state(member, state_key(ctx.settings))})


async def disconnected(ctx: AppContext, member: Member) -> None:
    await admission.release(ctx, member)
    last, _ = await presence.left(ctx, member.class_id, member.connection_id)
    if not last:
        await admission.forget_lost_tabs(ctx, member)
    else:
        # Nobody answers a hand whose owner has gone.
        await hands.lower(ctx, member.class_id, member.user_id, by=member.user_id)


ClientHandler = Callable[[AppContext, Member, Any], Awaitable[dict[str, Any]]]

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


def _event_name(event: UpstreamEvent) -> str:
    return (event.event_name or event.ce_type.rsplit(".", 1)[-1])[:64]


def parse_event_data(body: bytes, max_depth: int) -> Any:
    """A client event's data, checked before it is parsed: the parser recurses per level
    and holds the whole text, so size and depth are refused first."""
    if not body or not body.strip():
        return {}
    # Depth first (one pass, no recursion; Web PubSub caps a frame at 1 MB), so a deep
    # frame is told what is wrong with it.
    if too_deep(body, max_depth):
        raise Refused("too-deep", f"An event's data may nest at most {max_depth} levels.")
    if len(body) > MAX_EVENT_BYTES:
        raise Refused("too-large", f"An event's data may be at most {MAX_EVENT_BYTES} bytes; this was {len(body)}.")
    try:
        return json_codec.loads(body)  # strictly UTF-8, where json.loads would guess UTF-16 and UTF-32
    except json_codec.DecodeError:
        pass
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("invalid", "Send the event's data as UTF-8 JSON.") from None
    raise Refused("invalid", "Send the event's data as JSON.")


def _ref_of(data: Any) -> str | None:
    ref = data.get("ref") if isinstance(data, dict) else None
    return ref[:64] if isinstance(ref, str) else None


async def user_event(ctx: AppContext, member: Member | None, event: UpstreamEvent) -> Reply:
    name = _event_name(event)
    if member is None:
        # A personal connection (or a lost state): still answer with an ack, so the
        # sender learns why instead of waiting for one.
        try:
            ref = _ref_of(parse_event_data(event.body, ctx.settings.max_json_depth))
        except Refused:
            ref = None
        return Reply(200, live_messages.ack(name, "", 0, ok=False, ref=ref, reason="no-class",
                                            detail="This connection is not in a class; join one through negotiate."))
    ref = None
    try:
        data = parse_event_data(event.body, ctx.settings.max_json_depth)
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
        seq = refusal.seq or await _current_seq(ctx, member.class_id)
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
