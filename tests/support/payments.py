"""Payment scenarios: buying through the API, paying through the local provider stand-in,
and delivering hand-made provider events signed the provider's way."""

from __future__ import annotations

import httpx

from localpay import events
from shared_code.settings import Settings
from tests.support.actors import Actor
from tests.support.content import eventually


def stripe_secret() -> str:
    secrets = Settings().payment_secrets
    assert secrets, "the test profile configures PAYMENT_WEBHOOK_SECRETS"
    return secrets[0]


def razorpay_secret() -> str:
    secrets = Settings().razorpay_secrets
    assert secrets, "the test profile configures RAZORPAY_WEBHOOK_SECRETS"
    return secrets[0]


async def checkout(api: httpx.AsyncClient, student: Actor, course_id: str, *, provider: str | None = None, **headers: str) -> dict:
    body = {"provider": provider} if provider else {}
    resp = await api.post(f"courses/{course_id}/checkout", json=body, headers={**student.headers, **headers})
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


async def pay(stack, ref: str, action: str = "pay") -> list[dict]:
    """Asks the stand-in to send the webhooks a provider would for `action` on `ref`."""
    async with httpx.AsyncClient(base_url=stack.stack.profile.pay_url, timeout=30) as client:
        resp = await client.post("/dev/pay", json={"ref": ref, "action": action})
    assert resp.status_code == 200, resp.text
    return resp.json()["delivered"]


async def stripe_session(stack, session_id: str) -> dict:
    """The Checkout Session as the provider holds it (for hand-made events about it)."""
    async with httpx.AsyncClient(base_url=stack.stack.profile.pay_url, timeout=30) as client:
        resp = await client.get(f"/v1/checkout/sessions/{session_id}", headers={"Authorization": "Bearer sk_test_tests"})
    assert resp.status_code == 200, resp.text
    return resp.json()


async def razorpay_order(stack, order_id: str) -> dict:
    async with httpx.AsyncClient(base_url=stack.stack.profile.pay_url, timeout=30) as client:
        resp = await client.get(f"/v1/orders/{order_id}", auth=("rzp_test_tests", "secret"))
    assert resp.status_code == 200, resp.text
    return resp.json()


async def deliver_stripe(api: httpx.AsyncClient, event: dict, *, secret: str | None = None, timestamp: int | None = None):
    raw, headers = events.stripe_delivery(event, secret or stripe_secret(), timestamp)
    return await api.post("payments/webhook", content=raw, headers=headers)


async def deliver_razorpay(api: httpx.AsyncClient, event_id: str, body: dict, *, secret: str | None = None):
    raw, headers = events.razorpay_delivery(event_id, body, secret or razorpay_secret())
    return await api.post("payments/razorpay/webhook", content=raw, headers=headers)


async def purchase(api: httpx.AsyncClient, student: Actor, purchase_id: str) -> dict:
    resp = await api.get("me/purchases", headers=student.headers)
    assert resp.status_code == 200, resp.text
    found = [p for p in resp.json()["items"] if p["id"] == purchase_id]
    assert len(found) == 1, resp.json()
    return found[0]


async def audit_rows(api: httpx.AsyncClient, admin: Actor, action: str, target: str, *, count: int = 1) -> list[dict]:
    """The audit rows of `action` on `target` once `count` have landed (rows go through the outbox)."""

    async def found():
        resp = await api.get("admin/audit", params={"action": action, "limit": 200}, headers=admin.headers)
        assert resp.status_code == 200, resp.text
        rows = [r for r in resp.json()["items"] if r["target"] == target]
        return rows if len(rows) >= count else None

    return await eventually(found, timeout=15)
