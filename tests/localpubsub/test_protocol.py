"""Frames and messages of the client protocols (pure logic)."""

from __future__ import annotations

import base64
import json

import pytest

from localpubsub import frames, protocol

pytestmark = pytest.mark.unit


def payload_of(frame: bytes) -> tuple[int, bytes]:
    """Decode one unmasked server frame: (opcode, payload)."""
    assert frame[0] & 0x80, "FIN must be set"
    length = frame[1] & 0x7F
    offset = 2
    if length == 126:
        length, offset = int.from_bytes(frame[2:4], "big"), 4
    elif length == 127:
        length, offset = int.from_bytes(frame[2:10], "big"), 10
    assert frame[1] & 0x80 == 0, "server frames are not masked"
    assert len(frame) == offset + length
    return frame[0] & 0x0F, frame[offset:]


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
def test_frame_lengths_use_the_right_header_form(size: int) -> None:
    opcode, payload = payload_of(frames.encode(frames.OPCODE_BINARY, b"x" * size))
    assert opcode == frames.OPCODE_BINARY and len(payload) == size


@pytest.mark.parametrize(
    "data_type, payload, expected",
    [
        ("json", b'{"a": [1, 2]}', {"a": [1, 2]}),
        ("text", "héllo \"quoted\"".encode(), "héllo \"quoted\""),
        ("binary", b"\x00\xff", base64.b64encode(b"\x00\xff").decode()),
    ],
)
def test_every_wire_form_of_a_group_message(data_type: str, payload: bytes, expected: object) -> None:
    message = protocol.OutboundMessage(data_type, payload, group="g", from_user_id="u")
    envelope = {"type": "message", "from": "group", "group": "g", "fromUserId": "u", "dataType": data_type, "data": expected}
    assert json.loads(payload_of(message.json_frame())[1]) == envelope
    for sequence_id in (1, 42, 10**12):
        header, head, tail = message.reliable_frame_parts(sequence_id)
        assert json.loads(payload_of(header + head + tail)[1]) == {**envelope, "sequenceId": sequence_id}
    opcode, raw = payload_of(message.plain_frame())
    assert raw == payload
    assert opcode == (frames.OPCODE_BINARY if data_type == "binary" else frames.OPCODE_TEXT)


def test_server_messages_have_no_group_fields() -> None:
    message = protocol.OutboundMessage("json", b"[1]")
    assert json.loads(payload_of(message.json_frame())[1]) == {"type": "message", "from": "server", "dataType": "json", "data": [1]}


def test_sequence_acks_parse_the_same_on_the_quick_path_and_the_general_one() -> None:
    quick = protocol.parse_client_message('{"type": "sequenceAck", "sequenceId": 7}')
    general = protocol.parse_client_message('{"sequenceId": 7, "type": "sequenceAck"}')
    assert quick == general and quick.sequence_id == 7


def test_client_messages_are_decoded_by_data_type() -> None:
    event = protocol.parse_client_message(
        json.dumps({"type": "event", "event": "vote", "ackId": 3, "dataType": "binary", "data": "AAE="})
    )
    assert (event.event, event.ack_id, event.data_type, event.payload) == ("vote", 3, "binary", b"\x00\x01")
    default_json = protocol.parse_client_message(json.dumps({"type": "sendToGroup", "group": "g", "data": {"x": 1}}))
    assert (default_json.data_type, json.loads(default_json.payload), default_json.no_echo) == ("json", {"x": 1}, False)


@pytest.mark.parametrize(
    "text", ["", "nope", "[]", "{}", '{"type": 5}', '{"type": "ping", "ackId": -1}', '{"type": "ping", "ackId": true}']
)
def test_frames_that_are_not_messages_are_malformed(text: str) -> None:
    with pytest.raises(protocol.MalformedFrame):
        protocol.parse_client_message(text)


@pytest.mark.parametrize(
    "message",
    [
        {"type": "joinGroup", "group": " ", "ackId": 1},
        {"type": "joinGroup", "group": "x" * 1025, "ackId": 1},
        {"type": "sendToGroup", "group": "g", "ackId": 1},
        {"type": "sendToGroup", "group": "g", "ackId": 1, "data": "x", "noEcho": "yes"},
        {"type": "event", "event": "two words", "ackId": 1, "data": 1},
        {"type": "sequenceAck", "sequenceId": "1", "ackId": 1},
    ],
)
def test_bad_content_is_invalid_data_with_the_ack_id(message: dict) -> None:
    with pytest.raises(protocol.InvalidMessage) as invalid:
        protocol.parse_client_message(json.dumps(message))
    assert invalid.value.ack_id == 1


@pytest.mark.parametrize(
    "content_type, data_type",
    [
        ("application/json; charset=utf-8", "json"),
        ("TEXT/PLAIN", "text"),
        ("application/octet-stream", "binary"),
        ("application/xml", None),
        (None, None),
    ],
)
def test_content_types_map_to_data_types(content_type: str | None, data_type: str | None) -> None:
    assert protocol.data_type_of(content_type) == data_type
