"""The payment webhooks' front door: only signed, fresh deliveries are read; every signed
event is recorded once and answered 200; a signature alone enrols nobody."""

from __future__ import annotations

import json
import time

import pytest

from localpay import events
from shared_code.settings import Settings
from tests.support.content import published_course
from tests.support.payments import checkout, deliver_razorpay, deliver_stripe, stripe_session

pytestmark = pytest.mark.timeout(120)


async def _pending(api, actor, stack):
    tutor, buyer = await actor("tutor"), await actor("student")
    course, lesson = await published_course(api, tutor, price_cents=2500)
    bought = await checkout(api, buyer, course["id"], provider="stripe")
    session = await stripe_session(stack, bought["providerRef"])
    event = events.stripe_session_event(
        "checkout.session.completed", session, payment_status="paid", payment_intent=events.new_id("pi")
    )
    return buyer, lesson, event


async def test_a_forged_missing_or_tampered_stripe_signature_is_a_400_problem_and_enrols_nobody(api, actor, stack):
    buyer, lesson, event = await _pending(api, actor, stack)
    forged = await deliver_stripe(api, event, secret="whsec_not_the_real_one")
    assert forged.status_code == 400
    assert forged.headers["content-type"].startswith("application/problem+json")
    assert forged.json()["type"].endswith("/invalid-signature")
    missing = await api.post("payments/webhook", content=json.dumps(event).encode())
    assert missing.status_code == 400
    raw, headers = events.stripe_delivery(event, Settings().payment_secrets[0])
    tampered = raw.replace(b'"paid"', b'"paid" ', 1)
    assert (await api.post("payments/webhook", content=tampered, headers=headers)).status_code == 400
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 403
    # The genuine delivery still works afterwards: refusals recorded nothing under its id.
    genuine = await deliver_stripe(api, event)
    assert genuine.status_code == 200 and genuine.json()["outcome"] == "enrolled"


async def test_a_stripe_replay_outside_the_tolerance_window_is_refused(api, actor, stack):
    buyer, lesson, event = await _pending(api, actor, stack)
    tolerance = Settings().payment_webhook_tolerance_seconds
    old = await deliver_stripe(api, event, timestamp=int(time.time()) - tolerance - 60)
    assert old.status_code == 400 and "tolerance" in old.json()["detail"]
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 403


async def test_other_signed_stripe_events_are_acknowledged_recorded_once_and_change_nothing(api):
    event = events.stripe_event("invoice.paid", {"id": "in_1", "object": "invoice", "amount_paid": 100})
    resp = await deliver_stripe(api, event)
    assert resp.status_code == 200 and resp.json()["outcome"] == "ignored" and not resp.json()["duplicate"]
    assert (await deliver_stripe(api, event)).json()["duplicate"] is True


async def test_a_forged_razorpay_signature_is_a_400_and_other_signed_events_are_acknowledged(api):
    event_id, body = events.razorpay_event("invoice.paid", {"invoice": {"id": "inv_1"}})
    forged = await deliver_razorpay(api, event_id, body, secret="rzp_not_the_real_one")
    assert forged.status_code == 400 and forged.json()["type"].endswith("/invalid-signature")
    unsigned = await api.post("payments/razorpay/webhook", content=json.dumps(body).encode())
    assert unsigned.status_code == 400
    first = await deliver_razorpay(api, event_id, body)
    assert first.status_code == 200 and first.json()["outcome"] == "ignored"
    assert (await deliver_razorpay(api, event_id, body)).json()["duplicate"] is True


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'{"id": 5, "type": "x"}', b'{"id": "evt_x"}'])
async def test_signed_but_malformed_stripe_events_are_a_400_not_a_500(api, raw):
    headers = {"Stripe-Signature": events.stripe_signature(raw, Settings().payment_secrets[0])}
    assert (await api.post("payments/webhook", content=raw, headers=headers)).status_code == 400
