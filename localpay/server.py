"""The stand-in's HTTP surface: Stripe's and Razorpay's calls that Lectern makes, and `/dev/pay`.

Stripe (form-encoded requests, `Authorization: Bearer sk_...`):
  POST /v1/checkout/sessions, GET /v1/checkout/sessions/{id}
Razorpay (JSON requests, HTTP basic auth with the key id and secret):
  POST /v1/orders, GET /v1/orders/{id}
Development only:
  POST /dev/pay {ref, action}  sends the signed webhook events a provider would send for
  the checkout or order `ref`: action `pay`, `pay_async`, `async_succeeded`,
  `async_failed`, `fail`, `refund`, `partial_refund` or `dispute`.
  GET /checkout/{ref}  a page with buttons for those actions (the hosted checkout's place).
State is kept in memory: a restart forgets every checkout, as a test-mode account reset would.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from localpay import events

logger = logging.getLogger("localpay")


@dataclass
class Config:
    port: int
    stripe_webhook_url: str
    razorpay_webhook_url: str
    stripe_webhook_secret: str
    razorpay_webhook_secret: str
    livemode: bool = False
    public_url: str = ""


@dataclass
class State:
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Razorpay: the captured payment of each order, once paid.
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)


CONFIG = web.AppKey("config", Config)
STATE = web.AppKey("state", State)
HTTP = web.AppKey("http", aiohttp.ClientSession)


def _stripe_error(status: int, message: str, kind: str = "invalid_request_error") -> web.Response:
    return web.json_response({"error": {"type": kind, "message": message}}, status=status)


def _razorpay_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"code": "BAD_REQUEST_ERROR", "description": message}}, status=status)


def _nested(form: dict[str, str]) -> dict[str, Any]:
    """Stripe's `a[b][0][c]=v` form keys as nested dicts (lists stay dicts keyed by index)."""
    out: dict[str, Any] = {}
    for key, value in form.items():
        parts = re.findall(r"[^\[\]]+", key)
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


# --- Stripe -------------------------------------------------------------------------------
async def create_session(request: web.Request) -> web.Response:
    if not request.headers.get("Authorization", "").startswith("Bearer sk_"):
        return _stripe_error(401, "Invalid API Key provided.", "authentication_error")
    params = _nested(dict(await request.post()))
    try:
        item = params["line_items"]["0"]
        price = item["price_data"]
        amount = int(price["unit_amount"]) * int(item.get("quantity", "1"))
        currency = price["currency"].lower()
    except (KeyError, ValueError):
        return _stripe_error(400, "line_items[0][price_data] with unit_amount and currency is required.")
    config, state = request.app[CONFIG], request.app[STATE]
    key = request.headers.get("Idempotency-Key")
    if key:
        for existing in state.sessions.values():
            if existing.get("_idempotency_key") == key:
                return web.json_response(_public(existing))
    mode = "live" if config.livemode else "test"
    session_id = f"cs_{mode}_{events.new_id('a')[2:]}"
    session = {
        "id": session_id,
        "object": "checkout.session",
        "mode": params.get("mode", "payment"),
        "amount_subtotal": amount,
        "amount_total": amount,
        "currency": currency,
        "client_reference_id": params.get("client_reference_id"),
        "metadata": params.get("metadata", {}),
        "livemode": config.livemode,
        "payment_intent": None,
        "payment_status": "unpaid",
        "status": "open",
        "success_url": params.get("success_url"),
        "cancel_url": params.get("cancel_url"),
        "url": f"{config.public_url}/checkout/{session_id}",
        "created": int(time.time()),
        "expires_at": int(time.time()) + 24 * 3600,
        "_idempotency_key": key,
    }
    state.sessions[session_id] = session
    logger.info("checkout session created", extra={"session": session_id, "amount": amount, "currency": currency})
    return web.json_response(_public(session))


async def get_session(request: web.Request) -> web.Response:
    session = request.app[STATE].sessions.get(request.match_info["session_id"])
    if session is None:
        return _stripe_error(404, "No such checkout.session")
    return web.json_response(_public(session))


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


# --- Razorpay -----------------------------------------------------------------------------
async def create_order(request: web.Request) -> web.Response:
    if request.headers.get("Authorization", "").split(" ")[0] != "Basic":
        return _razorpay_error(401, "Authentication failed")
    try:
        body = await request.json()
        amount, currency = int(body["amount"]), str(body["currency"]).upper()
    except (ValueError, KeyError, TypeError):
        return _razorpay_error(400, "amount and currency are required")
    if amount < 100:
        return _razorpay_error(400, "Order amount less than minimum amount allowed")
    order = {
        "id": events.new_id("order"),
        "entity": "order",
        "amount": amount,
        "amount_paid": 0,
        "amount_due": amount,
        "currency": currency,
        "receipt": body.get("receipt"),
        "notes": body.get("notes") or {},
        "status": "created",
        "attempts": 0,
        "created_at": int(time.time()),
    }
    request.app[STATE].orders[order["id"]] = order
    logger.info("order created", extra={"order": order["id"], "amount": amount, "currency": currency})
    return web.json_response(order)


async def get_order(request: web.Request) -> web.Response:
    order = request.app[STATE].orders.get(request.match_info["order_id"])
    if order is None:
        return _razorpay_error(400, "The id provided does not exist")
    return web.json_response(order)


# --- paying (development only) ------------------------------------------------------------
STRIPE_ACTIONS = ("pay", "pay_async", "async_succeeded", "async_failed", "refund", "partial_refund", "dispute")
RAZORPAY_ACTIONS = ("pay", "fail", "refund", "partial_refund", "dispute")


def stripe_events(session: dict[str, Any], action: str) -> list[dict[str, Any]]:
    """The events Stripe sends for `action` on `session` (updating the session as Stripe would)."""
    if action in ("pay", "pay_async", "async_succeeded") and not session.get("payment_intent"):
        session["payment_intent"] = events.new_id("pi")
        session["latest_charge"] = events.new_id("ch")
    public = _public(session)
    if action == "pay":
        session.update(payment_status="paid", status="complete")
        return [events.stripe_session_event("checkout.session.completed", _public(session))]
    if action == "pay_async":
        session.update(status="complete")
        return [events.stripe_session_event("checkout.session.completed", _public(session))]
    if action == "async_succeeded":
        session.update(payment_status="paid", status="complete")
        return [events.stripe_session_event("checkout.session.async_payment_succeeded", _public(session))]
    if action == "async_failed":
        return [events.stripe_session_event("checkout.session.async_payment_failed", public, payment_status="unpaid")]
    if not session.get("payment_intent"):
        raise ValueError("this checkout has not been paid")
    if action in ("refund", "partial_refund"):
        amount = int(session["amount_total"])
        refunded = amount if action == "refund" else amount // 2
        return [
            events.stripe_event(
                "charge.refunded", events.stripe_charge(public, amount_refunded=refunded), livemode=bool(session["livemode"])
            )
        ]
    return [events.stripe_event("charge.dispute.created", events.stripe_dispute(public), livemode=bool(session["livemode"]))]


def razorpay_events(state: State, order: dict[str, Any], action: str) -> list[tuple[str, dict[str, Any]]]:
    if action == "pay":
        payment = events.razorpay_payment(order)
        state.payments[order["id"]] = payment
        order.update(status="paid", amount_paid=order["amount"], amount_due=0, attempts=order["attempts"] + 1)
        paid_order = dict(order)
        return [
            events.razorpay_event("payment.captured", {"payment": payment}),
            events.razorpay_event("order.paid", {"payment": payment, "order": paid_order}),
        ]
    if action == "fail":
        order["attempts"] += 1
        return [events.razorpay_event("payment.failed", {"payment": events.razorpay_payment(order, status="failed")})]
    payment = state.payments.get(order["id"])
    if payment is None:
        raise ValueError("this order has not been paid")
    if action in ("refund", "partial_refund"):
        amount = int(payment["amount"]) if action == "refund" else int(payment["amount"]) // 2
        refund = events.razorpay_refund(payment, amount)
        return [events.razorpay_event("refund.processed", {"refund": refund, "payment": payment})]
    return [events.razorpay_event("payment.dispute.created", {"dispute": events.razorpay_dispute(payment), "payment": payment})]


async def pay(request: web.Request) -> web.Response:
    config, state, http = request.app[CONFIG], request.app[STATE], request.app[HTTP]
    try:
        body = await request.json()
        ref, action = str(body["ref"]), str(body.get("action", "pay"))
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "send {ref, action}"}, status=400)
    deliveries: list[tuple[str, str, bytes, dict[str, str], str]] = []
    try:
        if ref in state.sessions:
            if action not in STRIPE_ACTIONS:
                return web.json_response({"error": f"action is one of {', '.join(STRIPE_ACTIONS)}"}, status=400)
            for event in stripe_events(state.sessions[ref], action):
                raw, headers = events.stripe_delivery(event, config.stripe_webhook_secret)
                deliveries.append((event["id"], event["type"], raw, headers, config.stripe_webhook_url))
        elif ref in state.orders:
            if action not in RAZORPAY_ACTIONS:
                return web.json_response({"error": f"action is one of {', '.join(RAZORPAY_ACTIONS)}"}, status=400)
            for event_id, event in razorpay_events(state, state.orders[ref], action):
                raw, headers = events.razorpay_delivery(event_id, event, config.razorpay_webhook_secret)
                deliveries.append((event_id, event["event"], raw, headers, config.razorpay_webhook_url))
        else:
            return web.json_response({"error": "no such checkout session or order"}, status=404)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=409)
    delivered = []
    for event_id, event_type, raw, headers, url in deliveries:
        async with http.post(url, data=raw, headers=headers) as resp:
            answer = await resp.text()
            delivered.append({"eventId": event_id, "type": event_type, "status": resp.status, "response": answer[:2000]})
        logger.info("webhook delivered", extra={"eventId": event_id, "type": event_type, "status": resp.status})
    return web.json_response({"ref": ref, "action": action, "delivered": delivered})


CHECKOUT_PAGE = """<!doctype html><meta charset="utf-8"><title>localpay checkout</title>
<h1>Local checkout {ref}</h1><p>{amount} {currency} (a development stand-in: no money moves)</p>
<form method="post" action="/checkout/{ref}"><button name="action" value="pay">Pay</button>
<button name="action" value="async_failed">Fail</button></form>"""


async def checkout_page(request: web.Request) -> web.Response:
    ref = request.match_info["ref"]
    session = request.app[STATE].sessions.get(ref)
    if session is None:
        return web.Response(status=404, text="no such checkout")
    html = CHECKOUT_PAGE.format(ref=ref, amount=session["amount_total"] / 100, currency=session["currency"].upper())
    return web.Response(text=html, content_type="text/html")


async def checkout_submit(request: web.Request) -> web.Response:
    ref = request.match_info["ref"]
    action = (await request.post()).get("action", "pay")
    session = request.app[STATE].sessions.get(ref)
    if session is None or action not in ("pay", "async_failed"):
        return web.Response(status=404, text="no such checkout")
    config, http = request.app[CONFIG], request.app[HTTP]
    for event in stripe_events(session, str(action)):
        raw, headers = events.stripe_delivery(event, config.stripe_webhook_secret)
        async with http.post(config.stripe_webhook_url, data=raw, headers=headers) as resp:
            await resp.read()
    raise web.HTTPSeeOther(session.get("success_url") or "/")


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _http_client(app: web.Application):
    app[HTTP] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    yield
    await app[HTTP].close()


def make_app(config: Config) -> web.Application:
    app = web.Application()
    app[CONFIG] = config
    app[STATE] = State()
    app.cleanup_ctx.append(_http_client)
    app.router.add_get("/health", health)
    app.router.add_post("/v1/checkout/sessions", create_session)
    app.router.add_get("/v1/checkout/sessions/{session_id}", get_session)
    app.router.add_post("/v1/orders", create_order)
    app.router.add_get("/v1/orders/{order_id}", get_order)
    app.router.add_post("/dev/pay", pay)
    app.router.add_get("/checkout/{ref}", checkout_page)
    app.router.add_post("/checkout/{ref}", checkout_submit)
    return app
