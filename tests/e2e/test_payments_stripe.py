"""Buying a course through Stripe Checkout: the server's price, the stand-in's signed events,
and every way an event can fail to be about what we sold."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from localpay import events
from tests.support.content import published_course
from tests.support.live import connect_personal
from tests.support.payments import (
    audit_rows,
    checkout,
    deliver_stripe,
    pay,
    purchase,
    stripe_session,
)

pytestmark = pytest.mark.timeout(120)


async def test_a_student_buys_a_course_through_stripe_checkout_and_is_enrolled(api, actor, stack):
    tutor, buyer = await actor("tutor"), await actor("student")
    course, lesson = await published_course(api, tutor, price_cents=2500)
    assert course["currency"] == "USD"
    bought = await checkout(api, buyer, course["id"], provider="stripe")
    assert bought["providerRef"].startswith("cs_") and bought["checkoutUrl"]
    assert (bought["amountCents"], bought["currency"], bought["provider"]) == (2500, "USD", "stripe")
    assert (await purchase(api, buyer, bought["purchaseId"]))["status"] == "pending"
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 403

    delivered = await pay(stack, bought["providerRef"])
    assert [(d["type"], d["status"]) for d in delivered] == [("checkout.session.completed", 200)]
    assert '"outcome":"enrolled"' in delivered[0]["response"].replace(" ", "")
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 200
    assert (await purchase(api, buyer, bought["purchaseId"]))["status"] == "paid"
    again = await api.post(f"courses/{course['id']}/checkout", json={}, headers=buyer.headers)
    assert again.status_code == 409


async def test_checkout_is_at_the_servers_price_and_a_pending_one_is_reused(api, actor, stack):
    tutor, buyer = await actor("tutor"), await actor("student")
    course, _ = await published_course(api, tutor, price_cents=4999)
    cheap = await api.post(f"courses/{course['id']}/checkout", json={"amountCents": 1}, headers=buyer.headers)
    assert cheap.status_code == 400  # the client names no price
    first = await api.post(f"courses/{course['id']}/checkout", json={}, headers=buyer.headers)
    second = await api.post(f"courses/{course['id']}/checkout", json={}, headers=buyer.headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json()
    session = await stripe_session(stack, first.json()["providerRef"])
    assert (session["amount_total"], session["currency"]) == (4999, "usd")


async def test_a_repeat_with_the_same_idempotency_key_returns_the_first_answer(api, actor):
    tutor, buyer = await actor("tutor"), await actor("student")
    course, _ = await published_course(api, tutor, price_cents=1500)
    key = {"Idempotency-Key": "buy-once"}
    first = await api.post(f"courses/{course['id']}/checkout", json={"provider": "stripe"}, headers={**buyer.headers, **key})
    repeat = await api.post(f"courses/{course['id']}/checkout", json={"provider": "stripe"}, headers={**buyer.headers, **key})
    assert first.status_code == 201 and repeat.status_code == 201 and first.json() == repeat.json()
    other = await api.post(f"courses/{course['id']}/checkout", json={"provider": "razorpay"}, headers={**buyer.headers, **key})
    assert other.status_code == 409


async def test_free_draft_and_foreign_courses_cannot_be_checked_out(api, actor):
    tutor, buyer = await actor("tutor"), await actor("student")
    free, _ = await published_course(api, tutor)
    assert (await api.post(f"courses/{free['id']}/checkout", json={}, headers=buyer.headers)).status_code == 422
    draft = (await api.post("courses", json={"title": "Draft", "priceCents": 900}, headers=tutor.headers)).json()
    assert (await api.post(f"courses/{draft['id']}/checkout", json={}, headers=buyer.headers)).status_code == 404
    assert (await api.post(f"courses/{draft['id']}/checkout", json={}, headers=tutor.headers)).status_code == 403


async def _paid_event(stack, api, actor, **changes):
    """A buyer with a pending Stripe checkout, and a completed event for it with `changes`."""
    tutor, buyer = await actor("tutor"), await actor("student")
    course, lesson = await published_course(api, tutor, price_cents=5000)
    bought = await checkout(api, buyer, course["id"], provider="stripe")
    session = await stripe_session(stack, bought["providerRef"])
    paid = {"payment_status": "paid", "status": "complete", "payment_intent": events.new_id("pi"), **changes}
    return buyer, lesson, bought, events.stripe_session_event("checkout.session.completed", session, **paid)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"amount_total": 1}, "wrong amount"),
        ({"currency": "inr"}, "wrong currency"),
        ({"payment_status": "no_payment_required", "amount_total": 5000}, "not paid (no_payment_required)"),
    ],
)
async def test_a_signed_event_that_is_not_what_we_sold_enrols_nobody_and_is_audited(api, actor, stack, changes, reason):
    admin = await actor("admin")
    buyer, lesson, bought, event = await _paid_event(stack, api, actor, **changes)
    resp = await deliver_stripe(api, event)
    assert resp.status_code == 200, resp.text
    assert resp.json()["outcome"] == f"mismatch: {reason}"
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 403
    assert (await purchase(api, buyer, bought["purchaseId"]))["status"] == "pending"
    rows = await audit_rows(api, admin, "payment.mismatch", f"purchase/{bought['purchaseId']}")
    assert rows[0]["details"]["reason"] == reason


async def test_a_test_mode_event_does_not_count_when_live_mode_is_configured_and_vice_versa(api, actor, stack):
    buyer, lesson, _, event = await _paid_event(stack, api, actor)
    event["livemode"] = True
    event["data"]["object"]["livemode"] = True
    resp = await deliver_stripe(api, event)
    assert resp.json()["outcome"] == "mismatch: wrong mode"
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 403


async def test_an_event_naming_a_course_and_user_but_no_purchase_of_ours_enrols_nobody(api, actor):
    """The old hole: any signed session whose metadata named a course enrolled its buyer."""
    admin, tutor, buyer = await actor("admin"), await actor("tutor"), await actor("student")
    course, lesson = await published_course(api, tutor, price_cents=5000)
    forged_session = {
        "id": events.new_id("cs_test"), "object": "checkout.session", "amount_total": 5000, "currency": "usd",
        "payment_status": "paid", "livemode": False, "payment_intent": events.new_id("pi"),
        "client_reference_id": f"{course['id']}:{buyer.user_id}", "metadata": {"courseId": course["id"], "userId": buyer.user_id},
    }
    event = events.stripe_event("checkout.session.completed", forged_session)
    resp = await deliver_stripe(api, event)
    assert resp.status_code == 200 and resp.json()["outcome"] == "mismatch: unknown purchase"
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 403
    await audit_rows(api, admin, "payment.mismatch", f"payment-event/{event['id']}")


async def test_duplicate_deliveries_and_a_second_event_for_one_purchase_make_one_enrolment(api, actor, stack):
    buyer, lesson, bought, event = await _paid_event(stack, api, actor)
    responses = await asyncio.gather(*(deliver_stripe(api, event) for _ in range(6)))
    assert all(r.status_code == 200 for r in responses)
    firsts = [r.json() for r in responses if not r.json()["duplicate"]]
    assert len(firsts) == 1 and firsts[0]["outcome"] == "enrolled"
    assert {r.json()["outcome"] for r in responses} == {"enrolled"}
    session = event["data"]["object"]
    follow_up = events.stripe_session_event("checkout.session.async_payment_succeeded", session)
    assert (await deliver_stripe(api, follow_up)).json()["outcome"] == "already paid"
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 200


async def test_a_delayed_payment_enrols_when_it_succeeds_and_a_failed_one_never(api, actor, stack):
    tutor, buyer, other = await actor("tutor"), await actor("student"), await actor("student")
    course, lesson = await published_course(api, tutor, price_cents=3000)
    bought = await checkout(api, buyer, course["id"])
    waiting = await pay(stack, bought["providerRef"], "pay_async")
    assert "awaiting payment (unpaid)" in waiting[0]["response"]
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 403
    succeeded = await pay(stack, bought["providerRef"], "async_succeeded")
    assert '"enrolled"' in succeeded[0]["response"]
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 200

    failing = await checkout(api, other, course["id"])
    await pay(stack, failing["providerRef"], "pay_async")
    failed = await pay(stack, failing["providerRef"], "async_failed")
    assert "payment async_payment_failed" in failed[0]["response"]
    assert (await purchase(api, other, failing["purchaseId"]))["status"] == "failed"
    assert (await api.get(f"lessons/{lesson['id']}", headers=other.headers)).status_code == 403


async def test_a_burst_of_checkout_clicks_makes_one_pending_purchase(api, actor):
    tutor, buyer = await actor("tutor"), await actor("student")
    course, _ = await published_course(api, tutor, price_cents=2000)
    answers = await asyncio.gather(
        *(api.post(f"courses/{course['id']}/checkout", json={}, headers=buyer.headers) for _ in range(5))
    )
    assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers]
    assert len({a.json()["purchaseId"] for a in answers}) == 1
    listed = (await api.get("me/purchases", headers=buyer.headers)).json()["items"]
    assert [p["status"] for p in listed] == ["pending"]


async def test_the_buyer_is_told_on_their_own_channel_when_the_payment_lands(api, actor, stack):
    tutor, buyer = await actor("tutor"), await actor("student")
    course, _ = await published_course(api, tutor, price_cents=2000)
    bought = await checkout(api, buyer, course["id"])
    async with aiohttp.ClientSession() as session:
        socket = await connect_personal(api, session, buyer)
        try:
            await pay(stack, bought["providerRef"])
            told = await socket.wait_for(lambda m: m.get("type") == "purchase.completed")
            assert told["purchaseId"] == bought["purchaseId"] and told["courseId"] == course["id"]
        finally:
            await socket.close()


async def test_only_the_owning_tutor_or_an_admin_sets_price_and_currency(api, actor):
    owner, other_tutor, student, admin = await actor("tutor"), await actor("tutor"), await actor("student"), await actor("admin")
    course, _ = await published_course(api, owner, price_cents=1000)
    change = {"priceCents": 1, "currency": "eur"}
    assert (await api.patch(f"courses/{course['id']}", json=change, headers=other_tutor.headers)).status_code == 403
    assert (await api.patch(f"courses/{course['id']}", json=change, headers=student.headers)).status_code == 403
    assert (await api.patch(f"courses/{course['id']}", json={"currency": "US1"}, headers=owner.headers)).status_code == 400
    by_admin = await api.patch(f"courses/{course['id']}", json={"currency": "eur"}, headers=admin.headers)
    assert by_admin.status_code == 200 and by_admin.json()["currency"] == "EUR"
    bought = await checkout(api, student, course["id"])
    assert (bought["amountCents"], bought["currency"]) == (1000, "EUR")


async def test_a_price_change_retires_the_pending_checkout_and_the_next_one_charges_the_new_price(api, actor):
    tutor, buyer = await actor("tutor"), await actor("student")
    course, _ = await published_course(api, tutor, price_cents=1000)
    first = await checkout(api, buyer, course["id"])
    assert (await api.patch(f"courses/{course['id']}", json={"priceCents": 3000}, headers=tutor.headers)).status_code == 200
    second = await checkout(api, buyer, course["id"])
    assert second["purchaseId"] != first["purchaseId"] and second["amountCents"] == 3000
    assert (await purchase(api, buyer, first["purchaseId"]))["status"] == "failed"


async def test_one_payment_cannot_pay_for_two_purchases(api, actor, stack):
    buyer, lesson, _, event = await _paid_event(stack, api, actor)
    assert (await deliver_stripe(api, event)).json()["outcome"] == "enrolled"
    other_buyer, other_lesson, _, other_event = await _paid_event(stack, api, actor)
    other_event["data"]["object"]["payment_intent"] = event["data"]["object"]["payment_intent"]
    resp = await deliver_stripe(api, other_event)
    assert resp.status_code == 200
    assert resp.json()["outcome"] == "mismatch: payment already recorded for another purchase"
    assert (await api.get(f"lessons/{other_lesson['id']}", headers=other_buyer.headers)).status_code == 403
