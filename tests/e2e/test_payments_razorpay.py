"""Buying a course through Razorpay: an Order at the server's price, the browser widget's key
id, and the captured payment's webhooks enrolling exactly once."""

from __future__ import annotations

import pytest

from localpay import events
from tests.support.content import published_course
from tests.support.payments import checkout, deliver_razorpay, pay, purchase, razorpay_order

pytestmark = pytest.mark.timeout(120)


async def test_a_student_buys_a_course_through_a_razorpay_order_and_is_enrolled_once(api, actor, stack):
    tutor, buyer = await actor("tutor"), await actor("student")
    course, lesson = await published_course(api, tutor, price_cents=49900)
    patched = await api.patch(f"courses/{course['id']}", json={"currency": "inr"}, headers=tutor.headers)
    assert patched.status_code == 200 and patched.json()["currency"] == "INR"
    bought = await checkout(api, buyer, course["id"], provider="razorpay")
    assert bought["providerRef"].startswith("order_") and bought["razorpayKeyId"].startswith("rzp_")
    assert (bought["amountCents"], bought["currency"], bought.get("checkoutUrl")) == (49900, "INR", None)
    order = await razorpay_order(stack, bought["providerRef"])
    assert (order["amount"], order["currency"]) == (49900, "INR")

    delivered = await pay(stack, bought["providerRef"])
    # Razorpay announces one payment twice (payment.captured and order.paid): one enrolment.
    assert [d["type"] for d in delivered] == ["payment.captured", "order.paid"]
    assert all(d["status"] == 200 for d in delivered)
    assert '"enrolled"' in delivered[0]["response"] and '"already paid"' in delivered[1]["response"]
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 200
    assert (await purchase(api, buyer, bought["purchaseId"]))["status"] == "paid"


async def test_a_razorpay_payment_for_another_amount_or_order_enrols_nobody(api, actor, stack):
    tutor, buyer = await actor("tutor"), await actor("student")
    course, lesson = await published_course(api, tutor, price_cents=49900)
    bought = await checkout(api, buyer, course["id"], provider="razorpay")
    order = await razorpay_order(stack, bought["providerRef"])
    cheap = events.razorpay_payment({**order, "amount": 100})
    event_id, body = events.razorpay_event("payment.captured", {"payment": cheap})
    assert (await deliver_razorpay(api, event_id, body)).json()["outcome"] == "mismatch: wrong amount"
    elsewhere = events.razorpay_payment({**order, "id": events.new_id("order")})
    event_id, body = events.razorpay_event("payment.captured", {"payment": elsewhere})
    assert (await deliver_razorpay(api, event_id, body)).json()["outcome"] == "mismatch: unknown purchase"
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 403


async def test_a_failed_razorpay_payment_then_a_captured_retry_enrols(api, actor, stack):
    tutor, buyer = await actor("tutor"), await actor("student")
    course, lesson = await published_course(api, tutor, price_cents=49900)
    bought = await checkout(api, buyer, course["id"], provider="razorpay")
    failed = await pay(stack, bought["providerRef"], "fail")
    assert '"payment failed"' in failed[0]["response"]
    assert (await purchase(api, buyer, bought["purchaseId"]))["status"] == "failed"
    await pay(stack, bought["providerRef"])
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 200


async def test_a_full_razorpay_refund_ends_the_enrolment_and_a_partial_one_does_not(api, actor, stack):
    tutor, buyer = await actor("tutor"), await actor("student")
    course, lesson = await published_course(api, tutor, price_cents=49900)
    bought = await checkout(api, buyer, course["id"], provider="razorpay")
    await pay(stack, bought["providerRef"])
    partial = await pay(stack, bought["providerRef"], "partial_refund")
    assert "partial refund recorded (24950 of 49900)" in partial[0]["response"]
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 200
    # Razorpay reports each refund on its own: the second half completes the refund.
    second = await pay(stack, bought["providerRef"], "partial_refund")
    assert '"refunded; enrolment ended"' in second[0]["response"]
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 403
    assert (await purchase(api, buyer, bought["purchaseId"]))["status"] == "refunded"


async def test_a_replayed_razorpay_refund_under_a_new_event_id_applies_once(api, actor, stack):
    """Razorpay's event id header is not signed: a captured refund relabelled must not add up."""
    tutor, buyer = await actor("tutor"), await actor("student")
    course, lesson = await published_course(api, tutor, price_cents=49900)
    bought = await checkout(api, buyer, course["id"], provider="razorpay")
    order = await razorpay_order(stack, bought["providerRef"])
    payment = events.razorpay_payment(order)
    event_id, captured = events.razorpay_event("payment.captured", {"payment": payment})
    assert (await deliver_razorpay(api, event_id, captured)).json()["outcome"] == "enrolled"
    half = events.razorpay_refund(payment, 24950)
    event_id, refund = events.razorpay_event("refund.processed", {"refund": half, "payment": payment})
    assert "partial refund" in (await deliver_razorpay(api, event_id, refund)).json()["outcome"]
    replay = await deliver_razorpay(api, events.new_id("evt"), refund)
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 200
    assert (await purchase(api, buyer, bought["purchaseId"]))["refundedCents"] == 24950
