"""The webhook events a provider sends, built and signed exactly as the provider does.

Stripe signs `"<t>.<body>"` with HMAC-SHA256 and sends `Stripe-Signature: t=..,v1=..`;
Razorpay signs the raw body with HMAC-SHA256 and sends the hex in `X-Razorpay-Signature`,
with the event id in `X-Razorpay-Event-Id`. The stand-in's pay endpoint and the tests both
build events here, so a scenario test can also hand-craft the wrong ones (a wrong amount,
a refund before its payment) and sign them the provider's way.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


# --- Stripe ---------------------------------------------------------------------------------
def stripe_event(event_type: str, obj: dict[str, Any], *, livemode: bool = False, event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or new_id("evt"),
        "object": "event",
        "api_version": "2025-01-27.acacia",
        "created": int(time.time()),
        "livemode": livemode,
        "pending_webhooks": 1,
        "type": event_type,
        "data": {"object": obj},
    }


def stripe_session_event(event_type: str, session: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A `checkout.session.*` event carrying `session` with `changes` applied (e.g. payment_status)."""
    return stripe_event(event_type, {**session, **changes}, livemode=bool(session.get("livemode")))


def stripe_charge(session: dict[str, Any], *, amount_refunded: int = 0) -> dict[str, Any]:
    amount = int(session["amount_total"])
    return {
        "id": session.get("latest_charge") or new_id("ch"),
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": amount_refunded,
        "currency": session["currency"],
        "payment_intent": session["payment_intent"],
        "paid": True,
        "refunded": amount_refunded >= amount,
        "livemode": bool(session.get("livemode")),
        "status": "succeeded",
    }


def stripe_dispute(session: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": new_id("dp"),
        "object": "dispute",
        "amount": int(session["amount_total"]),
        "currency": session["currency"],
        "charge": session.get("latest_charge") or new_id("ch"),
        "payment_intent": session["payment_intent"],
        "reason": "fraudulent",
        "status": "needs_response",
        "livemode": bool(session.get("livemode")),
    }


def stripe_signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def stripe_delivery(event: dict[str, Any], secret: str, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """The raw body and headers of one delivery of `event`."""
    body = json.dumps(event).encode()
    return body, {"Stripe-Signature": stripe_signature(body, secret, timestamp), "Content-Type": "application/json"}


# --- Razorpay -------------------------------------------------------------------------------
def razorpay_payment(order: dict[str, Any], *, status: str = "captured", payment_id: str | None = None) -> dict[str, Any]:
    return {
        "id": payment_id or new_id("pay"),
        "entity": "payment",
        "amount": int(order["amount"]),
        "currency": order["currency"],
        "status": status,
        "order_id": order["id"],
        "method": "card",
        "captured": status == "captured",
        "created_at": int(time.time()),
    }


def razorpay_event(event_type: str, payload: dict[str, dict[str, Any]], *, event_id: str | None = None) -> tuple[str, dict[str, Any]]:
    """(event id, body): Razorpay puts the id in a header, not the body."""
    body = {
        "entity": "event",
        "account_id": "acc_local",
        "event": event_type,
        "contains": list(payload),
        "payload": {name: {"entity": entity} for name, entity in payload.items()},
        "created_at": int(time.time()),
    }
    return event_id or new_id("evt"), body


def razorpay_refund(payment: dict[str, Any], amount: int) -> dict[str, Any]:
    return {
        "id": new_id("rfnd"),
        "entity": "refund",
        "amount": amount,
        "currency": payment["currency"],
        "payment_id": payment["id"],
        "status": "processed",
        "created_at": int(time.time()),
    }


def razorpay_dispute(payment: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": new_id("disp"),
        "entity": "dispute",
        "payment_id": payment["id"],
        "amount": int(payment["amount"]),
        "currency": payment["currency"],
        "reason_code": "chargeback",
        "phase": "chargeback",
        "status": "open",
    }


def razorpay_signature(payload: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def razorpay_delivery(event_id: str, body: dict[str, Any], secret: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {
        "X-Razorpay-Signature": razorpay_signature(raw, secret),
        "X-Razorpay-Event-Id": event_id,
        "Content-Type": "application/json",
    }
