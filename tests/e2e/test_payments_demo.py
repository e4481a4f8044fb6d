"""The demo data's paid course can be bought end to end through the stand-in's checkout page,
as a person trying `make up` would: checkout, open the page, press Pay, land back enrolled."""

from __future__ import annotations

import httpx
import pytest

from shared_code.seed import seed
from tests.support.payments import checkout, purchase

pytestmark = pytest.mark.timeout(120)


async def test_a_new_student_buys_the_seeded_paid_course_on_the_checkout_page(api, actor, stack):
    seeded = await seed(stack.base_url)
    buyer = await actor("student")
    course = (await api.get(f"courses/{seeded['paidCourseId']}", headers=buyer.headers)).json()
    assert course["priceCents"] > 0 and course["published"]
    bought = await checkout(api, buyer, course["id"])
    async with httpx.AsyncClient(timeout=30) as browser:
        page = await browser.get(bought["checkoutUrl"])
        assert page.status_code == 200 and "Pay" in page.text
        paid = await browser.post(bought["checkoutUrl"], data={"action": "pay"})
    assert paid.status_code == 303
    assert f"purchase={bought['purchaseId']}" in paid.headers["location"] and "checkout=success" in paid.headers["location"]
    assert (await purchase(api, buyer, bought["purchaseId"]))["status"] == "paid"
    lesson = course["lessons"][0]
    assert (await api.get(f"lessons/{lesson['id']}", headers=buyer.headers)).status_code == 200
