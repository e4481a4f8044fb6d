"""Webhook signatures (verified by the providers' SDKs) and what Lectern reads from an event."""

from __future__ import annotations

import time

import pytest

from localpay import events
from shared_code.domain.payment_events import razorpay_fact, stripe_fact
from shared_code.errors import ServiceUnavailable
from shared_code.services.payments.webhooks import InvalidSignature, verify_razorpay, verify_stripe

PAYLOAD = b'{"id":"evt_1","type":"checkout.session.completed"}'


def _now() -> int:
    return int(time.time())


def test_a_correctly_signed_stripe_payload_is_accepted():
    verify_stripe(PAYLOAD, events.stripe_signature(PAYLOAD, "whsec_a"), ["whsec_a"], tolerance_seconds=300)


def test_during_rotation_either_stripe_secret_verifies():
    for secret in ("whsec_old", "whsec_new"):
        header = events.stripe_signature(PAYLOAD, secret)
        verify_stripe(PAYLOAD, header, ["whsec_new", "whsec_old"], tolerance_seconds=300)


def test_a_header_with_several_v1_entries_passes_when_one_matches():
    good = events.stripe_signature(PAYLOAD, "whsec_a").split(",")[1]
    header = f"t={_now()},v1={'0' * 64},{good},v0=ignored"
    verify_stripe(PAYLOAD, header, ["whsec_a"], tolerance_seconds=300)


def test_a_tampered_stripe_payload_is_refused():
    header = events.stripe_signature(PAYLOAD, "whsec_a")
    with pytest.raises(InvalidSignature):
        verify_stripe(PAYLOAD.replace(b"evt_1", b"evt_2"), header, ["whsec_a"], tolerance_seconds=300)


def test_a_stripe_signature_by_an_unknown_secret_is_refused():
    with pytest.raises(InvalidSignature) as err:
        verify_stripe(PAYLOAD, events.stripe_signature(PAYLOAD, "whsec_attacker"), ["whsec_a"], tolerance_seconds=300)
    assert "No configured secret" in (err.value.detail or "")


@pytest.mark.parametrize("age", [301, 3600, 86_400])
def test_a_stripe_replay_outside_the_tolerance_window_is_refused(age):
    header = events.stripe_signature(PAYLOAD, "whsec_a", _now() - age)
    with pytest.raises(InvalidSignature) as err:
        verify_stripe(PAYLOAD, header, ["whsec_a"], tolerance_seconds=300)
    assert "tolerance" in (err.value.detail or "")


@pytest.mark.parametrize("header", [None, "", "t=abc,v1=00", "v1=00", "t=1", "garbage", "t=1,v1="])
def test_malformed_stripe_headers_are_a_400_not_a_crash(header):
    with pytest.raises(InvalidSignature) as err:
        verify_stripe(PAYLOAD, header, ["whsec_a"], tolerance_seconds=300)
    assert err.value.status == 400


def test_a_body_that_is_not_utf8_is_refused_not_a_crash():
    body = b"\xff\xfe{}"
    with pytest.raises(InvalidSignature):
        verify_stripe(body, "t=1,v1=00", ["whsec_a"], tolerance_seconds=300)
    with pytest.raises(InvalidSignature):
        verify_razorpay(body, "00", ["rzp"])


def test_without_configured_secrets_the_webhooks_are_unavailable_not_open():
    with pytest.raises(ServiceUnavailable):
        verify_stripe(PAYLOAD, events.stripe_signature(PAYLOAD, "x"), [], tolerance_seconds=300)
    with pytest.raises(ServiceUnavailable):
        verify_razorpay(PAYLOAD, events.razorpay_signature(PAYLOAD, "x"), [])


def test_razorpay_signatures_verify_with_any_configured_secret_and_nothing_else():
    verify_razorpay(PAYLOAD, events.razorpay_signature(PAYLOAD, "rzp_old"), ["rzp_new", "rzp_old"])
    for signature in (None, "", events.razorpay_signature(PAYLOAD, "rzp_attacker"), "zz"):
        with pytest.raises(InvalidSignature):
            verify_razorpay(PAYLOAD, signature, ["rzp_new"])
    with pytest.raises(InvalidSignature):
        verify_razorpay(PAYLOAD + b" ", events.razorpay_signature(PAYLOAD, "rzp_new"), ["rzp_new"])


SESSION = {"id": "cs_test_1", "amount_total": 2500, "currency": "usd", "livemode": False, "payment_intent": "pi_1"}


def test_a_completed_session_is_read_as_its_id_amount_currency_mode_and_paid_status():
    fact = stripe_fact(events.stripe_session_event("checkout.session.completed", SESSION, payment_status="paid"))
    assert (fact.kind, fact.ref, fact.payment_ref, fact.amount, fact.currency, fact.paid, fact.livemode) == (
        "checkout", "cs_test_1", "pi_1", 2500, "usd", True, False)


@pytest.mark.parametrize("status", ["unpaid", "no_payment_required", None, 1])
def test_only_payment_status_paid_counts_as_paid(status):
    fact = stripe_fact(events.stripe_session_event("checkout.session.completed", SESSION, payment_status=status))
    assert fact.paid is False


def test_metadata_naming_a_course_and_user_is_not_read_at_all():
    session = {**SESSION, "metadata": {"courseId": "c", "userId": "u"}, "client_reference_id": "c:u"}
    fact = stripe_fact(events.stripe_session_event("checkout.session.completed", session, payment_status="paid"))
    assert fact.ref == "cs_test_1" and not hasattr(fact, "course_id")


def test_a_refund_is_read_as_the_running_total_of_its_payment():
    charge = events.stripe_charge(SESSION, amount_refunded=1000)
    fact = stripe_fact(events.stripe_event("charge.refunded", charge))
    assert (fact.kind, fact.payment_ref, fact.amount, fact.cumulative) == ("refund", "pi_1", 1000, True)


@pytest.mark.parametrize("data", [None, [], {"object": "x"}, {"object": {"amount_total": "2500", "id": 7}}])
def test_malformed_event_objects_are_read_as_nothing_rather_than_crash(data):
    fact = stripe_fact({"id": "evt", "type": "checkout.session.completed", "data": data})
    assert fact.ref is None and fact.amount is None and not fact.paid


ORDER = {"id": "order_1", "amount": 2500, "currency": "INR"}


def test_a_captured_razorpay_payment_is_read_as_its_order_and_paid():
    payment = events.razorpay_payment(ORDER, payment_id="pay_1")
    _, body = events.razorpay_event("payment.captured", {"payment": payment})
    fact = razorpay_fact(body)
    assert (fact.kind, fact.ref, fact.payment_ref, fact.amount, fact.currency, fact.paid) == (
        "checkout", "order_1", "pay_1", 2500, "INR", True)
    _, authorized = events.razorpay_event("payment.captured", {"payment": {**payment, "status": "authorized"}})
    assert razorpay_fact(authorized).paid is False


def test_a_razorpay_refund_is_read_as_this_refund_of_its_payment():
    payment = events.razorpay_payment(ORDER, payment_id="pay_1")
    _, body = events.razorpay_event("refund.processed", {"refund": events.razorpay_refund(payment, 700), "payment": payment})
    fact = razorpay_fact(body)
    assert (fact.kind, fact.payment_ref, fact.amount, fact.cumulative) == ("refund", "pay_1", 700, False)
