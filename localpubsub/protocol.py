"""The client protocols: `json.webpubsub.azure.v1`, its reliable twin, and plain WebSocket.

Inbound frames become `ClientMessage`s; outbound data becomes an `OutboundMessage` that
encodes itself at most once per wire variant (plain, JSON, reliable JSON), so a broadcast
costs one serialisation however many connections receive it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from localpubsub import frames

JSON_V1 = "json.webpubsub.azure.v1"
JSON_RELIABLE_V1 = "json.reliable.webpubsub.azure.v1"
SERVICE_SUBPROTOCOLS = (JSON_V1, JSON_RELIABLE_V1)

DATA_TYPES = ("json", "text", "binary")
CONTENT_TYPE_OF = {"json": "application/json", "text": "text/plain", "binary": "application/octet-stream"}

# Ack error names, as the service spells them.
FORBIDDEN = "Forbidden"
INVALID_DATA = "InvalidData"
DUPLICATE = "Duplicate"
INTERNAL_SERVER_ERROR = "InternalServerError"
INVOCATION_FAILED = "InvocationFailed"

MAX_GROUP_NAME = 1024
MAX_ACK_ID = 2**64 - 1


def data_type_of(content_type: str | None) -> str | None:
    """The dataType a message with this Content-Type travels as, or None if unsupported."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/json":
        return "json"
    if media == "text/plain":
        return "text"
    if media == "application/octet-stream":
        return "binary"
    return None


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class MalformedFrame(Exception):
    """A frame that is not a protocol message at all: the connection breaks the protocol."""


class InvalidMessage(Exception):
    """A well-formed message with bad content; answered with an `InvalidData` ack."""

    def __init__(self, message: str, ack_id: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.ack_id = ack_id


@dataclass(slots=True)
class ClientMessage:
    type: str
    ack_id: int | None = None
    group: str | None = None
    event: str | None = None
    data_type: str = "json"
    payload: bytes = b""
    no_echo: bool = False
    sequence_id: int | None = None


def valid_group_name(name: Any) -> bool:
    return isinstance(name, str) and 0 < len(name) <= MAX_GROUP_NAME and not name.isspace()


def _valid_event_name(name: Any) -> bool:
    # The name travels in the ce-type and ce-eventName headers, so no control characters.
    return isinstance(name, str) and 0 < len(name) <= 128 and name.isprintable() and not any(c.isspace() for c in name)


def decode_data(data_type: Any, data: Any, ack_id: int | None) -> tuple[str, bytes]:
    """The payload bytes of a message's `data` under its `dataType` (json when absent)."""
    if data_type is None:
        data_type = "json"
    if data_type == "json":
        try:
            return "json", _dumps(data).encode("utf-8")
        except RecursionError:
            raise InvalidMessage("'data' is nested too deeply.", ack_id) from None
    if data_type == "text":
        if not isinstance(data, str):
            raise InvalidMessage("'data' must be a string when 'dataType' is text.", ack_id)
        return "text", data.encode("utf-8")
    if data_type == "binary":
        if not isinstance(data, str):
            raise InvalidMessage("'data' must be base64 text when 'dataType' is binary.", ack_id)
        try:
            return "binary", base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidMessage("'data' is not valid base64.", ack_id) from exc
    raise InvalidMessage(f"Unsupported dataType {data_type!r}; expected json, text or binary.", ack_id)


# Reliable clients ack about once a second each; with thousands of them this is the most
# frequent inbound frame, so its usual shape skips the general JSON path.
_SEQUENCE_ACK = re.compile(r'\{\s*"type"\s*:\s*"sequenceAck"\s*,\s*"sequenceId"\s*:\s*(\d{1,19})\s*\}')


def parse_client_message(text: str) -> ClientMessage:
    """One frame of a JSON-subprotocol client, checked the way the service checks it."""
    quick = _SEQUENCE_ACK.fullmatch(text)
    if quick is not None:
        return ClientMessage(type="sequenceAck", sequence_id=int(quick.group(1)))
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise MalformedFrame("The frame is not JSON.") from exc
    except RecursionError as exc:
        raise MalformedFrame("The frame is nested too deeply.") from exc
    if not isinstance(raw, dict):
        raise MalformedFrame("The frame is not a JSON object.")
    kind = raw.get("type")
    if not isinstance(kind, str) or not kind:
        raise MalformedFrame("The message has no 'type'.")
    ack_id = raw.get("ackId")
    if ack_id is not None and (isinstance(ack_id, bool) or not isinstance(ack_id, int) or not 0 <= ack_id <= MAX_ACK_ID):
        raise MalformedFrame("'ackId' must be an unsigned 64-bit integer.")
    message = ClientMessage(type=kind, ack_id=ack_id)

    if kind in ("joinGroup", "leaveGroup", "sendToGroup"):
        group = raw.get("group")
        if not valid_group_name(group):
            raise InvalidMessage("'group' must be a non-blank string of at most 1024 characters.", ack_id)
        message.group = group
    if kind == "sendToGroup":
        no_echo = raw.get("noEcho", False)
        if not isinstance(no_echo, bool):
            raise InvalidMessage("'noEcho' must be true or false.", ack_id)
        message.no_echo = no_echo
    if kind == "event":
        event = raw.get("event")
        if not _valid_event_name(event):
            raise InvalidMessage("'event' must be a name of at most 128 printable characters.", ack_id)
        message.event = event
    if kind in ("sendToGroup", "event"):
        if "data" not in raw:
            raise InvalidMessage("The message has no 'data'.", ack_id)
        message.data_type, message.payload = decode_data(raw.get("dataType"), raw["data"], ack_id)
    if kind == "sequenceAck":
        sequence_id = raw.get("sequenceId")
        if isinstance(sequence_id, bool) or not isinstance(sequence_id, int) or sequence_id < 0:
            raise InvalidMessage("'sequenceId' must be an unsigned integer.", ack_id)
        message.sequence_id = sequence_id
    return message


class OutboundMessage:
    """Data on its way to connections: from a group (a client published it) or from the
    server (REST, or an upstream's answer). Each wire form is built on first use and shared."""

    __slots__ = ("data_type", "payload", "group", "from_user_id", "_plain", "_json", "_head")

    def __init__(
        self, data_type: str, payload: bytes, *, group: str | None = None, from_user_id: str | None = None
    ) -> None:
        self.data_type = data_type
        self.payload = payload
        self.group = group
        self.from_user_id = from_user_id
        self._plain: bytes | None = None
        self._json: bytes | None = None
        self._head: bytes | None = None

    @property
    def size(self) -> int:
        return len(self.payload)

    def plain_frame(self) -> bytes:
        """What a client without subprotocol gets: the data itself, binary data as a binary frame."""
        if self._plain is None:
            opcode = frames.OPCODE_BINARY if self.data_type == "binary" else frames.OPCODE_TEXT
            self._plain = frames.encode(opcode, self.payload)
        return self._plain

    def _envelope_head(self) -> bytes:
        """The JSON envelope up to and including the data, without the closing brace."""
        if self._head is None:
            if self.group is not None:
                fields = ['{"type":"message","from":"group","group":', _dumps(self.group)]
                if self.from_user_id is not None:
                    fields += [',"fromUserId":', _dumps(self.from_user_id)]
            else:
                fields = ['{"type":"message","from":"server"']
            fields += [',"dataType":"', self.data_type, '","data":']
            head = "".join(fields).encode("utf-8")
            if self.data_type == "json":
                data = self.payload
            elif self.data_type == "text":
                data = _dumps(self.payload.decode("utf-8", errors="replace")).encode("utf-8")
            else:
                data = b'"' + base64.b64encode(self.payload) + b'"'
            self._head = head + data
        return self._head

    def json_frame(self) -> bytes:
        if self._json is None:
            self._json = frames.encode(frames.OPCODE_TEXT, self._envelope_head() + b"}")
        return self._json

    def reliable_frame_parts(self, sequence_id: int) -> tuple[bytes, bytes, bytes]:
        """The frame for one reliable connection: only the sequenceId differs between
        recipients, so it is spliced after the shared head instead of re-serialising."""
        head = self._envelope_head()
        tail = b',"sequenceId":' + str(sequence_id).encode("ascii") + b"}"
        return frames.header(frames.OPCODE_TEXT, len(head) + len(tail)), head, tail


def _text_frame(value: dict[str, Any]) -> bytes:
    return frames.encode(frames.OPCODE_TEXT, _dumps(value).encode("utf-8"))


def connected_frame(connection_id: str, user_id: str | None, reconnection_token: str | None) -> bytes:
    message: dict[str, Any] = {"type": "system", "event": "connected", "connectionId": connection_id}
    if user_id is not None:
        message["userId"] = user_id
    if reconnection_token is not None:
        message["reconnectionToken"] = reconnection_token
    return _text_frame(message)


def disconnected_frame(reason: str) -> bytes:
    return _text_frame({"type": "system", "event": "disconnected", "message": reason})


def ack_frame(ack_id: int, error: str | None = None, message: str | None = None) -> bytes:
    if error is None:
        return _text_frame({"type": "ack", "ackId": ack_id, "success": True})
    return _text_frame(
        {"type": "ack", "ackId": ack_id, "success": False, "error": {"name": error, "message": message or error}}
    )


PONG_FRAME = _text_frame({"type": "pong"})
