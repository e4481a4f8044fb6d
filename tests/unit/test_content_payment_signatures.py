"""Stripe-style webhook signatures: the right secret within the window, nothing else."""

from __future__ import annotations

import pytest

from shared_code.errors import ServiceUnavailable
from shared_code.services.payments import (
    InvalidSignature,
    parse_signature_header,
    purchase_of,
    sign_header,
    signature_for,
    verify_signature,
)

PAYLOAD = b'{"id":"evt_1","type":"checkout.session.completed"}'
NOW = 1_760_000_000


def test_a_correctly_signed_payload_is_accepted():
    header = sign_header(PAYLOAD, "whsec_a", NOW)
    assert verify_signature(PAYLOAD, header, ["whsec_a"], tolerance_seconds=300, now=NOW + 10) == NOW


def test_the_signature_is_hmac_sha256_over_timestamp_dot_payload():
    import hashlib
    import hmac

    expected = hmac.new(b"whsec_a", f"{NOW}.".encode() + PAYLOAD, hashlib.sha256).hexdigest()
    assert signature_for(PAYLOAD, "whsec_a", NOW) == expected


def test_during_rotation_either_secret_verifies():
    old = sign_header(PAYLOAD, "whsec_old", NOW)
    new = sign_header(PAYLOAD, "whsec_new", NOW)
    for header in (old, new):
        assert verify_signature(PAYLOAD, header, ["whsec_new", "whsec_old"], tolerance_seconds=300, now=NOW) == NOW


def test_a_header_with_several_v1_entries_passes_when_one_matches():
    good = signature_for(PAYLOAD, "whsec_a", NOW)
    header = f"t={NOW},v1={'0' * 64},v1={good},v0=ignored"
    assert verify_signature(PAYLOAD, header, ["whsec_a"], tolerance_seconds=300, now=NOW) == NOW


def test_a_tampered_payload_is_refused():
    header = sign_header(PAYLOAD, "whsec_a", NOW)
    with pytest.raises(InvalidSignature):
        verify_signature(PAYLOAD.replace(b"evt_1", b"evt_2"), header, ["whsec_a"], tolerance_seconds=300, now=NOW)


def test_a_signature_by_an_unknown_secret_is_refused():
    header = sign_header(PAYLOAD, "whsec_attacker", NOW)
    with pytest.raises(InvalidSignature):
        verify_signature(PAYLOAD, header, ["whsec_a"], tolerance_seconds=300, now=NOW)


@pytest.mark.parametrize("skew", [301, -301, 86_400])
def test_a_replay_outside_the_tolerance_window_is_refused(skew):
    header = sign_header(PAYLOAD, "whsec_a", NOW)
    with pytest.raises(InvalidSignature) as err:
        verify_signature(PAYLOAD, header, ["whsec_a"], tolerance_seconds=300, now=NOW + skew)
    assert "tolerance" in (err.value.detail or "")


@pytest.mark.parametrize("header", [None, "", "t=abc,v1=00", "v1=00", f"t={NOW}", "garbage", f"t={NOW},v1="])
def test_malformed_headers_are_a_400_not_a_crash(header):
    with pytest.raises(InvalidSignature) as err:
        verify_signature(PAYLOAD, header, ["whsec_a"], tolerance_seconds=300, now=NOW)
    assert err.value.status == 400


def test_without_configured_secrets_the_webhook_is_unavailable_not_open():
    with pytest.raises(ServiceUnavailable):
        verify_signature(PAYLOAD, sign_header(PAYLOAD, "x", NOW), [], tolerance_seconds=300, now=NOW)


def test_header_parsing_keeps_every_v1():
    parsed = parse_signature_header(f"t={NOW}, v1=AA ,v1=bb")
    assert parsed.timestamp == NOW and parsed.signatures == ("aa", "bb")


COURSE = "7d7d7d7d-0000-4000-8000-000000000001"
USER = "7d7d7d7d-0000-4000-8000-000000000002"


@pytest.mark.parametrize(
    "session",
    [
        {"metadata": {"courseId": COURSE, "userId": USER}},
        {"client_reference_id": f"{COURSE}:{USER}"},
        {"metadata": {"courseId": COURSE}, "client_reference_id": USER},
    ],
)
def test_the_purchase_is_read_from_metadata_or_client_reference_id(session):
    assert purchase_of(session) == (COURSE, USER)


def test_a_purchase_without_valid_ids_matches_nothing():
    assert purchase_of({"metadata": {"courseId": "not-a-uuid"}}) == (None, None)
