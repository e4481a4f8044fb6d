"""The connection state a class connection carries, and the join ticket negotiate hands out: signed.

Web PubSub hands the state back on every later event of the connection, so no event
needs a lookup to know its class. That state decides access, and the upstream signature
covers only the connection id, so the state is signed by the app (HMAC-SHA256,
`LECTERN_CONNECTION_STATE_KEY`) and bound to the connection and user it was issued to. A
state that fails the check is no state.

Negotiate has just checked the caller (membership, role, the course and the class), so it
also hands out a join ticket naming user, class, course and role, valid for
`TICKET_SECONDS`. The connect event that carries a valid ticket for its own user and class
needs no PostgreSQL read to know who joins where; it still checks in Redis that nothing
was revoked since (`events.connect`). A ticket that fails the check (forged, for another
user or class, expired) is no ticket: that connect is checked in full, as without one. It
is signed with the same key under its own label, so a state is never a ticket nor the
reverse.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass

from shared_code.services.live.class_access import Member
from shared_code.settings import Settings

STATE_VERSION = 2
TICKET_VERSION = 2  # 2: the name
# Long enough for a page to open the URL it negotiated; a later connect is checked in full.
TICKET_SECONDS = 120
_TICKET_LABEL = b"lectern.join-ticket\n"


def state_key(settings: Settings) -> bytes:
    return settings.connection_state_signing_key


def _state_mac(key: bytes, payload: str) -> str:
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def encode_state(member: Member, key: bytes) -> str:
    """Base64 JSON, as Web PubSub expects: the member's facts and the app's HMAC over them,
    bound to the connection and the user it was issued to."""
    payload = json.dumps(
        {
            "v": STATE_VERSION, "connectionId": member.connection_id, "userId": member.user_id,
            "classId": member.class_id, "courseId": member.course_id, "role": member.role, "name": member.name,
        },
        separators=(",", ":"), sort_keys=True, ensure_ascii=False,
    )
    wrapped = json.dumps({"p": payload, "s": _state_mac(key, payload)}, separators=(",", ":"), ensure_ascii=False)
    value = base64.b64encode(wrapped.encode()).decode()
    try:
        # What `decode_state` will find in it: the class id in its canonical form.
        _remember((value, member.connection_id, member.user_id, key),
                  dataclasses.replace(member, class_id=str(uuid.UUID(member.class_id))))
    except ValueError:
        pass  # not a state this app accepts back; checked in full when it returns
    return value


def decode_state(value: str | None, connection_id: str, user_id: str, key: bytes) -> Member | None:
    """The member a state describes, or None when there is none or it is not one this app
    signed for this connection and user."""
    if not value or len(value) > 8192:
        return None
    inputs = (value, connection_id, user_id, key)
    known = _known_states.get(inputs)
    if known is not None:
        return known
    member = _verified_state(*inputs)
    if member is not None:
        _remember(inputs, member)
    return member


# A connection hands back the same state on every event it sends, and a class of thousands
# voting sends thousands of them in a second. The answer depends only on the four inputs,
# so the states this process signed (at connect) or verified are remembered with the member
# they name: an event checks its state by one lookup, not a base64 decode, two JSON parses
# and an HMAC. Bounded; the oldest entry goes first, and a state no longer remembered is
# simply checked in full again. Member is frozen, so a remembered one is shared safely.
_KNOWN_STATES_MAX = 16_384
_known_states: dict[tuple[str, str, str, bytes], Member] = {}


def _remember(inputs: tuple[str, str, str, bytes], member: Member) -> None:
    if len(_known_states) >= _KNOWN_STATES_MAX:
        del _known_states[next(iter(_known_states))]
    _known_states[inputs] = member


def _verified_state(value: str, connection_id: str, user_id: str, key: bytes) -> Member | None:
    try:
        wrapped = json.loads(base64.b64decode(value, validate=True))
        payload, mac = wrapped["p"], wrapped["s"]
        if not isinstance(payload, str) or not isinstance(mac, str) or not mac.isascii():
            return None
        if not hmac.compare_digest(_state_mac(key, payload).encode(), mac.encode()):
            return None
        data = json.loads(payload)
        if data.get("v") != STATE_VERSION or data.get("connectionId") != connection_id or data.get("userId") != user_id:
            return None
        return Member(
            connection_id=connection_id,
            user_id=user_id,
            class_id=str(uuid.UUID(data["classId"])),
            course_id=str(data["courseId"]),
            role=str(data["role"]),
            name=str(data.get("name", "")),
        )
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, RecursionError):
        return None


# --- join tickets -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Ticket:
    """What negotiate found for one user and one class, until `expires_ms`. The name is the
    one the class sees while `connect` confirms the stored account (it is not trusted for
    anything else)."""

    user_id: str
    class_id: str
    course_id: str
    role: str
    expires_ms: int
    name: str = ""


def _ticket_mac(key: bytes, payload: bytes) -> str:
    return hmac.new(key, _TICKET_LABEL + payload, hashlib.sha256).hexdigest()


def encode_ticket(ticket: Ticket, key: bytes) -> str:
    """URL-safe base64 of the ticket's JSON, a dot, and the app's HMAC over it."""
    payload = json.dumps(
        {"v": TICKET_VERSION, "u": ticket.user_id, "c": ticket.class_id, "k": ticket.course_id, "r": ticket.role,
         "e": ticket.expires_ms, "n": ticket.name},
        separators=(",", ":"), sort_keys=True, ensure_ascii=False,
    ).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=") + "." + _ticket_mac(key, payload)


def decode_ticket(value: object, user_id: str, class_id: str, now_ms: int, key: bytes) -> Ticket | None:
    """The ticket, or None when there is none or it is not one this app signed for this user
    and class, or it has expired."""
    if not isinstance(value, str) or len(value) > 4096 or value.count(".") != 1:
        return None
    encoded, mac = value.split(".")
    try:
        payload = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        if not mac.isascii() or not hmac.compare_digest(_ticket_mac(key, payload).encode(), mac.encode()):
            return None
        data = json.loads(payload)
        ticket = Ticket(
            user_id=str(data["u"]), class_id=str(data["c"]), course_id=str(uuid.UUID(str(data["k"]))),
            role=str(data["r"]), expires_ms=int(data["e"]), name=str(data["n"]),
        )
        if data.get("v") != TICKET_VERSION:
            return None
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, RecursionError):
        return None
    if ticket.user_id != user_id or ticket.class_id != class_id or ticket.expires_ms <= now_ms:
        return None
    if ticket.role not in ("student", "tutor", "admin"):
        return None
    return ticket
