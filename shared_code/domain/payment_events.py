"""What a provider's webhook event says, reduced to what Lectern acts on: a checkout that
paid (or failed), a refund, a dispute, or something else. Pure: the event is already
verified and parsed; deciding what the fact does to a purchase is the webhook service's.
Fields of the wrong type or absurd length read as absent, never as an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Provider = Literal["stripe", "razorpay"]
FactKind = Literal["checkout", "failed", "refund", "dispute", "other"]

STRIPE_CHECKOUT_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
STRIPE_FAILED_EVENTS = ("checkout.session.async_payment_failed", "checkout.session.expired")
RAZORPAY_CHECKOUT_EVENTS = ("payment.captured", "order.paid")


@dataclass(frozen=True)
class Fact:
    """One provider event reduced to what Lectern acts on."""

    kind: FactKind
    provider: Provider
    ref: str | None = None  # the checkout session / order id
    payment_ref: str | None = None  # the payment intent / payment id
    amount: int | None = None
    currency: str | None = None
    status: str = ""  # the provider's payment status word
    paid: bool = False
    livemode: bool | None = None
    cumulative: bool = False  # refund amount is the running total (Stripe) or this refund (Razorpay)
    entity_id: str | None = None  # Razorpay: the payment, refund or dispute the event is about


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 255 else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def stripe_fact(event: dict[str, Any]) -> Fact:
    event_type = event["type"]
    obj = _obj(_obj(event.get("data")).get("object"))
    livemode = event.get("livemode") if isinstance(event.get("livemode"), bool) else obj.get("livemode")
    if event_type in STRIPE_CHECKOUT_EVENTS:
        status = str(obj.get("payment_status") or "")
        return Fact(
            "checkout", "stripe", ref=_str(obj.get("id")), payment_ref=_str(obj.get("payment_intent")),
            amount=_int(obj.get("amount_total")), currency=_str(obj.get("currency")), status=status,
            paid=status == "paid", livemode=livemode if isinstance(livemode, bool) else None,
        )
    if event_type in STRIPE_FAILED_EVENTS:
        return Fact("failed", "stripe", ref=_str(obj.get("id")), status=event_type.rsplit(".", 1)[-1])
    if event_type == "charge.refunded":
        return Fact(
            "refund", "stripe", payment_ref=_str(obj.get("payment_intent")), amount=_int(obj.get("amount_refunded")),
            currency=_str(obj.get("currency")), cumulative=True, livemode=livemode if isinstance(livemode, bool) else None,
        )
    if event_type == "charge.dispute.created":
        return Fact(
            "dispute", "stripe", payment_ref=_str(obj.get("payment_intent")), amount=_int(obj.get("amount")),
            currency=_str(obj.get("currency")), livemode=livemode if isinstance(livemode, bool) else None,
        )
    return Fact("other", "stripe")


def razorpay_fact(event: dict[str, Any]) -> Fact:
    event_type = event["event"]
    payload = _obj(event.get("payload"))

    def entity(name: str) -> dict[str, Any]:
        return _obj(_obj(payload.get(name)).get("entity"))

    payment = entity("payment")
    if event_type in RAZORPAY_CHECKOUT_EVENTS:
        status = str(payment.get("status") or "")
        return Fact(
            "checkout", "razorpay", ref=_str(payment.get("order_id")), payment_ref=_str(payment.get("id")),
            amount=_int(payment.get("amount")), currency=_str(payment.get("currency")), status=status,
            paid=status == "captured", entity_id=_str(payment.get("id")),
        )
    if event_type == "payment.failed":
        return Fact("failed", "razorpay", ref=_str(payment.get("order_id")), status="failed", entity_id=_str(payment.get("id")))
    if event_type == "refund.processed":
        refund = entity("refund")
        return Fact(
            "refund", "razorpay", payment_ref=_str(refund.get("payment_id")), amount=_int(refund.get("amount")),
            currency=_str(refund.get("currency")), entity_id=_str(refund.get("id")),
        )
    if event_type == "payment.dispute.created":
        dispute = entity("dispute")
        return Fact(
            "dispute", "razorpay", payment_ref=_str(dispute.get("payment_id")), amount=_int(dispute.get("amount")),
            currency=_str(dispute.get("currency")), entity_id=_str(dispute.get("id")),
        )
    return Fact("other", "razorpay")
