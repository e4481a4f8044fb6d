"""Refunds and disputes: a full refund ends the enrolment everywhere access is checked, a
partial one is only recorded, a dispute is recorded and audited, and a refund that arrives
before its payment still wins."""

from __future__ import annotations

import aiohttp
import pytest

from localpay import events
from tests.support.content import published_course, upload_material
from tests.support.live import connect_personal, create_class, join, negotiate, start_class
from tests.support.payments import (
    audit_rows,
    checkout,
    deliver_stripe,
    pay,
    purchase,
    stripe_session,
)

pytestmark = pytest.mark.timeout(120)


async def _bought(api, actor, stack, price_cents: int = 4000):
    tutor, buyer = await actor("tutor"), await actor("student")
    course, lesson = await published_course(api, tutor, price_cents=price_cents)
    bought = await checkout(api, buyer, course["id"], provider="stripe")
    delivered = await pay(stack, bought["providerRef"])
    assert '"enrolled"' in delivered[0]["response"], delivered
    return tutor, buyer, course, lesson, bought


async def test_a_full_refund_ends_live_access_and_downloads_keeps_progress_and_tells_the_student(api, actor, stack):
    admin = await actor("admin")
    tutor, buyer, course, lesson, bought = await _bought(api, actor, stack)
    material = await upload_material(api, tutor, course["id"], b"%PDF-1.4 paid", file_name="p.pdf", content_type="application/pdf")
    assert (await api.post(f"materials/{material['materialId']}/publish", headers=tutor.headers)).status_code == 200
    klass = await create_class(api, tutor, course["id"])
    running = await create_class(api, tutor, course["id"], title="Running now")
    await start_class(api, tutor, running["id"])
    beat = {"positionSeconds": 30, "watchedSeconds": 30, "durationSeconds": 600}
    assert (await api.put(f"progress/lessons/{lesson['id']}", json=beat, headers=buyer.headers)).status_code in (200, 202)
    assert (await api.get(f"materials/{material['materialId']}/download", headers=buyer.headers)).status_code == 200
    assert (await negotiate(api, buyer, klass["id"])).status_code == 200

    async with aiohttp.ClientSession() as session:
        socket = await connect_personal(api, session, buyer)
        in_class = await join(api, session, buyer, running["id"])
        try:
            delivered = await pay(stack, bought["providerRef"], "refund")
            assert '"refunded; enrolment ended"' in delivered[0]["response"], delivered
            told = await socket.wait_for(lambda m: m.get("type") == "purchase.refunded")
            assert told["purchaseId"] == bought["purchaseId"] and told["courseId"] == course["id"]
            # Joining was checked when the connection opened: the open one is closed now.
            assert "refunded" in await in_class.wait_closed()
        finally:
            await socket.close()
            await in_class.close()

    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 403
    assert (await api.get(f"materials/{material['materialId']}/download", headers=buyer.headers)).status_code == 403
    assert (await negotiate(api, buyer, klass["id"])).status_code == 403
    assert (await api.put(f"progress/lessons/{lesson['id']}", json=beat, headers=buyer.headers)).status_code == 403
    refunded = await purchase(api, buyer, bought["purchaseId"])
    assert (refunded["status"], refunded["refundedCents"]) == ("refunded", 4000)
    await audit_rows(api, admin, "payment.refunded", f"purchase/{bought['purchaseId']}")
    # Progress is kept: the dashboard (or a re-purchase) still finds the watched time.
    again = await api.post(f"courses/{course['id']}/checkout", json={}, headers=buyer.headers)
    assert again.status_code == 201, again.text


async def test_a_partial_refund_is_recorded_and_the_enrolment_stays(api, actor, stack):
    _, buyer, _, lesson, bought = await _bought(api, actor, stack)
    delivered = await pay(stack, bought["providerRef"], "partial_refund")
    assert "partial refund recorded (2000 of 4000)" in delivered[0]["response"]
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 200
    recorded = await purchase(api, buyer, bought["purchaseId"])
    assert (recorded["status"], recorded["refundedCents"]) == ("paid", 2000)


async def test_a_dispute_is_recorded_and_audited(api, actor, stack):
    admin = await actor("admin")
    _, buyer, _, _, bought = await _bought(api, actor, stack)
    delivered = await pay(stack, bought["providerRef"], "dispute")
    assert "dispute recorded" in delivered[0]["response"]
    assert (await purchase(api, buyer, bought["purchaseId"]))["status"] == "disputed"
    await audit_rows(api, admin, "payment.disputed", f"purchase/{bought['purchaseId']}")


async def test_a_refund_delivered_before_its_payment_is_applied_when_the_payment_lands(api, actor, stack):
    tutor, buyer = await actor("tutor"), await actor("student")
    course, lesson = await published_course(api, tutor, price_cents=4000)
    bought = await checkout(api, buyer, course["id"])
    session = await stripe_session(stack, bought["providerRef"])
    paid = {**session, "payment_status": "paid", "status": "complete", "payment_intent": events.new_id("pi")}
    completed = events.stripe_session_event("checkout.session.completed", paid)
    refund = events.stripe_event("charge.refunded", events.stripe_charge(paid, amount_refunded=4000))

    early = await deliver_stripe(api, refund)
    assert early.json()["outcome"] == "refund held until its payment lands"
    landed = await deliver_stripe(api, completed)
    assert landed.json()["outcome"] == "paid; refunded before it landed, not enrolled"
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 403
    assert (await purchase(api, buyer, bought["purchaseId"]))["status"] == "refunded"
    # Redelivered in any order afterwards, nothing changes.
    assert (await deliver_stripe(api, refund)).json()["duplicate"] is True
    assert (await deliver_stripe(api, completed)).json()["duplicate"] is True
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 403
