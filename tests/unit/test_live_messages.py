"""Every server → client message has the same envelope; acknowledgements echo the client's ref."""

import pytest

from shared_code.services.live.messages import ack, envelope, iso_ms


def test_envelope_carries_type_class_seq_and_time_first():
    message = envelope("chat.message", "c1", 42, 1_767_225_600_123, text="hi", userId="u")
    assert list(message)[:4] == ["type", "classId", "seq", "at"]
    assert message == {
        "type": "chat.message", "classId": "c1", "seq": 42, "at": "2026-01-01T00:00:00.123Z", "text": "hi", "userId": "u",
    }


@pytest.mark.parametrize("field", ["type", "classId", "seq", "at"])
def test_a_message_cannot_override_the_envelope(field):
    with pytest.raises((ValueError, TypeError)):
        envelope("poll.tally", "c1", 1, 0, **{field: "x"})


def test_times_are_utc_with_milliseconds():
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"
    assert iso_ms(1_500) == "1970-01-01T00:00:01.500Z"


def test_ack_reports_the_outcome_to_the_sender_with_its_ref():
    refused = ack("chat", "c1", 7, ok=False, ref="r-1", reason="muted")
    assert refused["type"] == "ack" and refused["seq"] == 7 and refused["classId"] == "c1"
    assert refused["event"] == "chat" and refused["ok"] is False and refused["reason"] == "muted"
    assert refused["ref"] == "r-1"
    assert "ref" not in ack("vote", "c1", 7, ok=True)
