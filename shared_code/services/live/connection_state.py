"""The connection state a class connection carries: who it is, in which class, signed.

Web PubSub hands the state back on every later event of the connection, so no event
needs a lookup to know its class. That state decides access, and the upstream signature
covers only the connection id, so the state is signed by the app (HMAC-SHA256,
`LECTERN_CONNECTION_STATE_KEY`) and bound to the connection and user it was issued to. A
state that fails the check is no state.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid

from shared_code.services.live.class_access import Member
from shared_code.settings import Settings

STATE_VERSION = 2


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
    return base64.b64encode(wrapped.encode()).decode()


def decode_state(value: str | None, connection_id: str, user_id: str, key: bytes) -> Member | None:
    """The member a state describes, or None when there is none or it is not one this app
    signed for this connection and user."""
    if not value or len(value) > 8192:
        return None
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
