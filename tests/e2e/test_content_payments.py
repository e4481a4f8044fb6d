"""The payment webhook: signed, exactly once however the provider retries, duplicates or reorders."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from shared_code.services.payments import sign_header
from shared_code.settings import Settings
from tests.support.content import published_course


@pytest.fixture(scope="module")
def secrets(stack) -> list[str]:
    configured = Settings().payment_secrets
    assert configured, "the test profile configures PAYMENT_WEBHOOK_SECRETS"
    return configured


def checkout_event(course_id: str, user_id: str, *, event_type: str = "checkout.session.completed", **session) -> dict:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": event_type,
        "created": int(time.time()),
        "data": {
            "object": {
                "id": f"cs_{uuid.uuid4().hex[:16]}",
                "object": "checkout.session",
                "payment_status": "paid",
                "metadata": {"courseId": course_id, "userId": user_id},
                **session,
            }
        },
    }


async def deliver(api, event: dict, secret: str, *, timestamp: int | None = None):
    raw = json.dumps(event).encode()
    header = sign_header(raw, secret, timestamp)
    return await api.post("payments/webhook", content=raw, headers={"Stripe-Signature": header, "Content-Type": "application/json"})


async def test_a_paid_checkout_enrols_the_buyer_exactly_once_however_often_it_is_delivered(api, actor, secrets):
    tutor, buyer = await actor("tutor"), await actor("student")
    course, lesson = await published_course(api, tutor, price_cents=2500)
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 403
    event = checkout_event(course["id"], buyer.user_id)

    first = await deliver(api, event, secrets[0])
    assert first.status_code == 200, first.text
    assert first.json() == {"received": True, "eventId": event["id"], "duplicate": False, "outcome": "enrolled"}
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 200

    retries = await asyncio.gather(*(deliver(api, event, secrets[0]) for _ in range(5)))
    assert all(r.status_code == 200 and r.json()["duplicate"] and r.json()["outcome"] == "enrolled" for r in retries)

    # The same purchase announced by a second event type still makes no second enrolment.
    follow_up = checkout_event(course["id"], buyer.user_id, event_type="checkout.session.async_payment_succeeded")
    resp = await deliver(api, follow_up, secrets[0])
    assert resp.json()["outcome"] == "already enrolled"


async def test_simultaneous_duplicate_deliveries_enrol_once(api, actor, secrets):
    tutor, buyer = await actor("tutor"), await actor("student")
    course, _ = await published_course(api, tutor, price_cents=2500)
    event = checkout_event(course["id"], buyer.user_id)
    responses = await asyncio.gather(*(deliver(api, event, secrets[0]) for _ in range(10)))
    assert all(r.status_code == 200 for r in responses)
    assert sum(1 for r in responses if not r.json()["duplicate"]) == 1


async def test_out_of_order_deliveries_end_in_one_enrolment(api, actor, secrets):
    tutor, buyer = await actor("tutor"), await actor("student")
    course, lesson = await published_course(api, tutor, price_cents=2500)
    pending = checkout_event(course["id"], buyer.user_id, payment_status="unpaid")
    succeeded = checkout_event(course["id"], buyer.user_id, event_type="checkout.session.async_payment_succeeded")
    assert (await deliver(api, succeeded, secrets[0])).json()["outcome"] == "enrolled"
    late = await deliver(api, pending, secrets[0])
    assert late.status_code == 200 and late.json()["outcome"] != "enrolled"
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 200


async def test_a_buyer_named_by_client_reference_id_who_never_signed_in_is_enrolled(api, actor, secrets):
    tutor = await actor("tutor")
    course, _ = await published_course(api, tutor, price_cents=100)
    newcomer = str(uuid.uuid4())
    event = checkout_event(course["id"], newcomer, metadata={}, client_reference_id=f"{course['id']}:{newcomer}")
    resp = await deliver(api, event, secrets[0])
    assert resp.status_code == 200 and resp.json()["outcome"] == "enrolled"


async def test_a_forged_signature_is_a_400_problem_and_enrols_nobody(api, actor, secrets):
    tutor, buyer = await actor("tutor"), await actor("student")
    course, lesson = await published_course(api, tutor, price_cents=2500)
    event = checkout_event(course["id"], buyer.user_id)
    forged = await deliver(api, event, "whsec_not_the_real_one")
    assert forged.status_code == 400
    assert forged.headers["content-type"].startswith("application/problem+json")
    assert forged.json()["type"].endswith("/invalid-signature")
    missing = await api.post("payments/webhook", content=json.dumps(event).encode())
    assert missing.status_code == 400
    tampered_raw = json.dumps(event).encode()
    header = sign_header(tampered_raw, secrets[0])
    tampered = json.dumps({**event, "id": "evt_other"}).encode()
    assert (await api.post("payments/webhook", content=tampered, headers={"Stripe-Signature": header})).status_code == 400
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 403


async def test_a_replay_outside_the_tolerance_window_is_refused(api, actor, secrets):
    tutor, buyer = await actor("tutor"), await actor("student")
    course, lesson = await published_course(api, tutor, price_cents=2500)
    event = checkout_event(course["id"], buyer.user_id)
    tolerance = Settings().payment_webhook_tolerance_seconds
    old = await deliver(api, event, secrets[0], timestamp=int(time.time()) - tolerance - 60)
    assert old.status_code == 400 and "tolerance" in old.json()["detail"]
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 403


async def test_other_event_types_are_acknowledged_and_recorded(api, secrets):
    event = {"id": f"evt_{uuid.uuid4().hex}", "type": "invoice.paid", "data": {"object": {}}}
    resp = await deliver(api, event, secrets[0])
    assert resp.status_code == 200 and resp.json()["outcome"] == "ignored" and not resp.json()["duplicate"]
    assert (await deliver(api, event, secrets[0])).json()["duplicate"] is True
