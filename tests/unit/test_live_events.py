"""Pure parts of the live event handler: connection state, the abuse-protection origin,
client event validation, chat text rules, counts and rate-limit arithmetic."""

import base64
import dataclasses
import json
import uuid

import pytest
from pydantic import ValidationError

from shared_code.domain.polls import counts_list
from shared_code.domain.ratelimit import Decision, emission_interval_ms
from shared_code.models.live import ChatEvent, ModerationRequest, PollCreate, ScreenShareEvent, VoteEvent
from shared_code.services.live import connection_state
from shared_code.services.live.chat import check_text
from shared_code.services.live.class_access import Member
from shared_code.services.live.connection_state import decode_state, encode_state
from shared_code.services.live.events import MAX_EVENT_BYTES, allowed_origin, parse_event_data
from shared_code.services.live.messages import Refused

CLASS = str(uuid.uuid4())


def member(role: str = "student") -> Member:
    return Member(connection_id="conn-1", user_id="u-1", class_id=CLASS, course_id="course-1", role=role, name="Ann")


KEY = b"unit-test-connection-state-key-0001"


def _b64(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def test_connection_state_round_trips():
    state = encode_state(member("tutor"), KEY)
    assert decode_state(state, "conn-1", "u-1", KEY) == member("tutor")


@pytest.mark.parametrize(
    "bad",
    [None, "", "not base64!", base64.b64encode(b"not json").decode(), base64.b64encode(b'{"classId": "x"}').decode(),
     base64.b64encode(json.dumps({"courseId": "c", "role": "student"}).encode()).decode(),
     base64.b64encode(b"[" * 100_000 + b"]" * 100_000).decode()],
)
def test_unreadable_connection_state_is_no_member(bad):
    assert decode_state(bad, "conn-1", "u-1", KEY) is None


def test_an_unsigned_state_naming_a_tutor_is_no_member():
    """The state the handler used to issue: plain base64 JSON anyone could write."""
    forged = _b64({"classId": CLASS, "courseId": "course-1", "role": "tutor", "name": "Mallory"})
    assert decode_state(forged, "conn-1", "u-1", KEY) is None


def test_a_state_whose_role_was_raised_is_no_member():
    wrapped = json.loads(base64.b64decode(encode_state(member("student"), KEY)))
    wrapped["p"] = wrapped["p"].replace('"role":"student"', '"role":"tutor"')
    assert '"role":"tutor"' in wrapped["p"]
    assert decode_state(_b64(wrapped), "conn-1", "u-1", KEY) is None


def test_a_state_signed_with_another_key_is_no_member():
    assert decode_state(encode_state(member(), b"another-key-another-key-another"), "conn-1", "u-1", KEY) is None


def test_a_state_is_bound_to_its_connection_and_user():
    state = encode_state(member("tutor"), KEY)
    assert decode_state(state, "conn-2", "u-1", KEY) is None
    assert decode_state(state, "conn-1", "u-2", KEY) is None


def test_a_state_already_accepted_for_its_connection_is_still_refused_to_another_or_under_another_key():
    """Verified states are remembered per connection; what was remembered must not leak to
    a replay of the same state on another connection, user or key."""
    state = encode_state(member("tutor"), KEY)
    for _ in range(2):
        assert decode_state(state, "conn-1", "u-1", KEY) == member("tutor")
    assert decode_state(state, "conn-2", "u-1", KEY) is None
    assert decode_state(state, "conn-1", "u-2", KEY) is None
    assert decode_state(state, "conn-1", "u-1", b"another-key-another-key-another") is None
    assert decode_state(state, "conn-1", "u-1", KEY) == member("tutor")


def test_a_state_signed_here_reads_back_as_the_full_check_would_read_it():
    """States signed at connect are remembered; what is remembered is exactly what the full
    check makes of the state (the class id in canonical form)."""
    signed_with_upper_case_class = dataclasses.replace(member(), class_id=CLASS.upper())
    state = encode_state(signed_with_upper_case_class, KEY)
    remembered = decode_state(state, "conn-1", "u-1", KEY)
    connection_state._known_states.clear()
    assert decode_state(state, "conn-1", "u-1", KEY) == remembered == member()


def test_roles_inside_a_class():
    assert member("tutor").is_tutor and member("tutor").is_staff
    assert member("admin").is_staff and not member("admin").is_tutor
    assert not member("student").is_staff


@pytest.mark.parametrize(
    "origin,service,expected",
    [
        ("lectern.webpubsub.azure.com", "lectern.webpubsub.azure.com", "lectern.webpubsub.azure.com"),
        ("LECTERN.webpubsub.azure.com", "lectern.webpubsub.azure.com", "LECTERN.webpubsub.azure.com"),
        ("evil.example", "lectern.webpubsub.azure.com", None),
        ("127.0.0.1:8180", "127.0.0.1", "127.0.0.1:8180"),
        ("localhost", "127.0.0.1", "localhost"),
        (None, "127.0.0.1", None),
    ],
)
def test_only_the_configured_service_passes_the_handshake(origin, service, expected):
    assert allowed_origin(origin, service) == expected


def test_chat_text_is_trimmed_and_bounded():
    assert check_text("  hi  ", 10) == "hi"
    with pytest.raises(Refused) as empty:
        check_text("   ", 10)
    assert empty.value.reason == "empty"
    with pytest.raises(Refused) as long:
        check_text("x" * 11, 10)
    assert long.value.reason == "too-long"


def test_client_events_refuse_unknown_fields():
    with pytest.raises(ValidationError):
        ChatEvent.model_validate({"text": "hi", "admin": True})
    assert VoteEvent.model_validate({"pollId": str(uuid.uuid4()), "option": 3, "ref": "r"}).option == 3
    with pytest.raises(ValidationError):
        VoteEvent.model_validate({"pollId": "nope", "option": 1})


@pytest.mark.parametrize(
    "url", ["http://cdn.example/live", "javascript:alert(1)", "https://user:pw@cdn.example/x", "https:///nohost", "https://cdn.example/a b"]
)
def test_screen_share_needs_a_clean_https_url(url):
    with pytest.raises(ValidationError):
        ScreenShareEvent.model_validate({"action": "start", "streamUrl": url})


def test_screen_share_start_and_stop():
    assert ScreenShareEvent.model_validate({"action": "start", "streamUrl": "https://cdn.example/live/abc"}).stream_url
    assert ScreenShareEvent.model_validate({"action": "stop"}).stream_url is None
    with pytest.raises(ValidationError):
        ScreenShareEvent.model_validate({"action": "start"})


def test_polls_have_two_to_ten_non_empty_options():
    assert PollCreate.model_validate({"question": "Q?", "options": [" a ", "b"]}).options == ["a", "b"]
    for options in (["only"], [str(i) for i in range(11)], ["a", "  "]):
        with pytest.raises(ValidationError):
            PollCreate.model_validate({"question": "Q?", "options": options})


def test_moderation_names_its_target():
    assert ModerationRequest.model_validate({"action": "mute", "userId": str(uuid.uuid4())})
    assert ModerationRequest.model_validate({"action": "deleteMessage", "messageId": str(uuid.uuid4())})
    for body in (
        {"action": "mute"},
        {"action": "deleteMessage", "userId": str(uuid.uuid4())},
        {"action": "ban", "userId": str(uuid.uuid4())},
    ):
        with pytest.raises(ValidationError):
            ModerationRequest.model_validate(body)


def test_counts_list_fills_missing_options_with_zero():
    assert counts_list(4, {"1": "3", "3": "1"}) == [0, 3, 0, 1]
    assert counts_list(2, {"0": "-1", "5": "9"}) == [0, 0]


def test_rate_limit_arithmetic():
    assert emission_interval_ms(5, 10_000) == 2_000
    assert Decision(False, 0, 1).retry_after_seconds == 1
    assert Decision(False, 0, 2_001).retry_after_seconds == 3
    assert Decision(True, 4, 0).retry_after_seconds == 0
    with pytest.raises(ValueError):
        emission_interval_ms(0, 1000)


@pytest.mark.parametrize(
    "body,reason",
    [
        (b"[" * 100_000 + b"]" * 100_000, "too-deep"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "too-deep"),
        (json.dumps({"text": "x" * MAX_EVENT_BYTES}).encode(), "too-large"),
        (b'{"text": "\xff\xfe"}', "invalid"),
        (b"\xff\xfe{}", "invalid"),
        ('{"text": "utf-16"}'.encode("utf-16"), "invalid"),
        (b"{not json", "invalid"),
    ],
)
def test_hostile_event_data_is_refused_before_it_is_parsed(body, reason):
    with pytest.raises(Refused) as refused:
        parse_event_data(body, 32)
    assert refused.value.reason == reason


def test_event_data_within_the_limits_is_parsed():
    assert parse_event_data(b'{"text": "[not a bracket] {either}"}', 32) == {"text": "[not a bracket] {either}"}
    assert parse_event_data(b"", 32) == {}
    assert parse_event_data(b"[" * 32 + b"]" * 32, 32) is not None
