"""Provider webhooks: the events that turn a purchase we created into an enrolment, and
the refunds and disputes that follow, each applied exactly once in any order.

Trust: a delivery counts only when the provider's SDK verifies its signature (Stripe:
`Stripe-Signature` over `t.body`, within the tolerance window, any of several secrets so a
secret can be rotated; Razorpay: `X-Razorpay-Signature` over the body). A signature proves
the provider sent the event, not that it is about something we sold: an event enrols only
when it names a purchase we created (the Checkout Session id / Order id we recorded), its
amount and currency equal the purchase's, Stripe's `livemode` matches the configuration,
and it says paid (`payment_status == "paid"`, Razorpay `captured`). Anything else that is
signed is recorded and answered 200 (so the provider stops retrying) and changes nothing;
a signed event that names no purchase of ours or the wrong amount, currency or mode is a
`payment.mismatch`: audited, and logged with `paymentMismatch=1` for the alert.

Exactly once, any order: each event id is recorded in `payment_events` in the same
transaction as its effect, so a repeat finds the id and changes nothing. The purchase row
is locked while an event applies, so two events for one purchase (completed and
async_payment_succeeded; payment.captured and order.paid) make one enrolment. A refund or
dispute that names a payment no purchase has recorded yet is kept in `payment_holds` and
applied in the transaction that records the payment.

A full refund ends the enrolment (the row stays `refunded` with its progress; access
checks stop counting it; open connections to the course's running classes are closed), is
audited, and the student is told on their user channel.
Partial refunds are recorded only; a dispute marks the purchase `disputed` and is audited.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import razorpay
import stripe

from shared_code import metrics
from shared_code.adapters.postgres import enrollments as enrollments_sql
from shared_code.adapters.postgres import payments as payments_sql
from shared_code.adapters.postgres import purchases as purchases_sql
from shared_code.adapters.postgres.enrollments import EnrollmentRow
from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.postgres.purchases import PurchaseRow
from shared_code.adapters.postgres.rows import values
from shared_code.context import AppContext
from shared_code.domain import notifications as texts
from shared_code.domain.cache_entries import plain
from shared_code.domain.payment_events import Fact, razorpay_fact, stripe_fact
from shared_code.errors import BadRequest, PayloadTooLarge, ServiceUnavailable
from shared_code.models.content import WebhookReceipt
from shared_code.platform import audit, content_cache, outbox
from shared_code.services.content import enrollments
from shared_code.services.live import presence
from shared_code.services.notifications import delivery as notify
from shared_code.services.progress import dashboard

logger = logging.getLogger("lectern.payments")



class InvalidSignature(BadRequest):
    type_slug, title = "invalid-signature", "Invalid webhook signature"


# --- verification -------------------------------------------------------------------------
def verify_stripe(payload: bytes, header: str | None, secrets: list[str], *, tolerance_seconds: int) -> None:
    """Passes when any configured secret signed `payload` within the window (Stripe's SDK decides)."""
    if not secrets:
        raise ServiceUnavailable("Stripe webhooks are not configured on this server.", retry_after=60)
    if not header:
        raise InvalidSignature("The 'Stripe-Signature' header is missing.")
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSignature("The event is not UTF-8, so no signature can cover it.") from None
    too_old = False
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(payload, header, secret, tolerance_seconds)
            return
        except stripe.SignatureVerificationError as exc:
            too_old = too_old or "tolerance" in str(exc).lower()
    if too_old:
        raise InvalidSignature("The signature timestamp is outside the tolerance window.")
    raise InvalidSignature("No configured secret produced this signature.")


def verify_razorpay(payload: bytes, signature: str | None, secrets: list[str]) -> None:
    """Passes when any configured secret signed `payload` (Razorpay's SDK utility decides)."""
    if not secrets:
        raise ServiceUnavailable("Razorpay webhooks are not configured on this server.", retry_after=60)
    if not signature:
        raise InvalidSignature("The 'X-Razorpay-Signature' header is missing.")
    try:
        body = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSignature("The event is not UTF-8, so no signature can cover it.") from None
    utility = razorpay.Utility()
    for secret in secrets:
        try:
            utility.verify_webhook_signature(body, signature, secret)
            return
        except razorpay.errors.SignatureVerificationError:
            continue
    raise InvalidSignature("No configured secret produced this signature.")


# --- applying an event -----------------------------------------------------------------------
@dataclass
class Applied:
    """What an event did inside its transaction, and what must follow once it commits."""

    outcome: str
    purchase: PurchaseRow | None = None
    enrolment: EnrollmentRow | None = None
    refunded: bool = False
    enrolment_ended: bool = False
    disputed: bool = False
    mismatch: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _mismatch(reason: str, purchase: PurchaseRow | None = None, **details: Any) -> Applied:
    return Applied(outcome=f"mismatch: {reason}", purchase=purchase, mismatch=reason, details=details)


def _same_currency(fact: Fact, purchase: PurchaseRow) -> bool:
    return (fact.currency or "").upper() == str(purchase.currency)


async def _apply(ctx: AppContext, conn: Conn, fact: Fact) -> Applied:
    if fact.kind == "checkout":
        return await _apply_checkout(ctx, conn, fact)
    if fact.kind == "failed":
        return await _apply_failed(conn, fact)
    if fact.kind in ("refund", "dispute"):
        return await _apply_after_payment(ctx, conn, fact)
    return Applied("ignored")


async def _apply_checkout(ctx: AppContext, conn: Conn, fact: Fact) -> Applied:
    purchase = await purchases_sql.lock_by_ref(conn, fact.provider, fact.ref) if fact.ref else None
    if purchase is None:
        return _mismatch("unknown purchase", ref=fact.ref)
    if fact.provider == "stripe" and fact.livemode is not ctx.settings.stripe_livemode:
        return _mismatch("wrong mode", purchase, livemode=fact.livemode)
    if fact.amount != purchase.amount_cents:
        return _mismatch("wrong amount", purchase, amount=fact.amount, expected=purchase.amount_cents)
    if not _same_currency(fact, purchase):
        return _mismatch("wrong currency", purchase, currency=fact.currency, expected=purchase.currency)
    if not fact.paid:
        if fact.status in ("unpaid", "authorized"):
            return Applied(f"awaiting payment ({fact.status})", purchase)
        # `no_payment_required` (a coupon or a zero-amount session) on a course we sell for money.
        return _mismatch(f"not paid ({fact.status or 'no status'})", purchase, status=fact.status)
    if purchase.status not in ("pending", "failed"):
        return Applied(f"already {purchase.status}", purchase)
    changes: dict[str, Any] = {"status": "paid", "paid_at": datetime.now(UTC)}
    if fact.payment_ref:
        other = await purchases_sql.lock_by_payment(conn, fact.provider, fact.payment_ref)
        if other is not None and other.id != purchase.id:
            # One payment cannot pay for two purchases (and must not trip the unique index).
            return _mismatch("payment already recorded for another purchase", purchase, paymentRef=fact.payment_ref)
        changes["payment_ref"] = fact.payment_ref
    purchase = await purchases_sql.update_purchase(conn, str(purchase.id), changes)
    applied = Applied("enrolled", purchase)
    holds = await payments_sql.take_holds(conn, fact.provider, fact.payment_ref) if fact.payment_ref else []
    for held in holds:
        held_fact = Fact(held.kind, fact.provider, payment_ref=fact.payment_ref, amount=held.amount_cents,
                         currency=held.currency, cumulative=held.cumulative)
        later = await _settle_after_payment(conn, held_fact, purchase)
        purchase = later.purchase or purchase
        applied.refunded |= later.refunded
        applied.disputed |= later.disputed
        if later.mismatch:
            applied.mismatch, applied.details = later.mismatch, later.details
    applied.purchase = purchase
    if purchase.status == "refunded":
        applied.outcome = "paid; refunded before it landed, not enrolled"
        return applied
    row, created = await enrollments.insert(conn, str(purchase.course_id), str(purchase.user_id), "payment")
    applied.enrolment = row if created else None
    applied.outcome = "enrolled" if created else "paid; already enrolled"
    if applied.disputed:
        applied.outcome += "; disputed"
    return applied


async def _apply_failed(conn: Conn, fact: Fact) -> Applied:
    purchase = await purchases_sql.lock_by_ref(conn, fact.provider, fact.ref) if fact.ref else None
    if purchase is None:
        return _mismatch("unknown purchase", ref=fact.ref)
    if purchase.status != "pending":
        return Applied(f"ignored: purchase already {purchase.status}", purchase)
    purchase = await purchases_sql.update_purchase(conn, str(purchase.id), {"status": "failed"})
    return Applied(f"payment {fact.status}", purchase)


async def _apply_after_payment(ctx: AppContext, conn: Conn, fact: Fact) -> Applied:
    if fact.payment_ref is None:
        return _mismatch(f"{fact.kind} names no payment")
    if fact.provider == "stripe" and fact.livemode is not None and fact.livemode is not ctx.settings.stripe_livemode:
        return _mismatch("wrong mode", livemode=fact.livemode)
    purchase = await purchases_sql.lock_by_payment(conn, fact.provider, fact.payment_ref)
    if purchase is None:
        return Applied(f"{fact.kind} held until its payment lands")
    return await _settle_after_payment(conn, fact, purchase)


async def _settle_after_payment(conn: Conn, fact: Fact, purchase: PurchaseRow) -> Applied:
    """A refund or dispute of a recorded payment (inside its transaction)."""
    if not _same_currency(fact, purchase):
        return _mismatch("wrong currency", purchase, currency=fact.currency, expected=purchase.currency)
    if fact.kind == "dispute":
        if purchase.status == "paid":
            purchase = await purchases_sql.update_purchase(conn, str(purchase.id), {"status": "disputed"})
        return Applied("dispute recorded", purchase, disputed=True, details={"amount": fact.amount})
    amount = fact.amount or 0
    total = max(purchase.refunded_cents, amount) if fact.cumulative else purchase.refunded_cents + amount
    changes: dict[str, Any] = {"refunded_cents": total}
    full = total >= purchase.amount_cents
    if full and purchase.status != "refunded":
        changes["status"] = "refunded"
    updated = await purchases_sql.update_purchase(conn, str(purchase.id), changes)
    if not full:
        return Applied(f"partial refund recorded ({total} of {purchase.amount_cents})", updated)
    if purchase.status == "refunded":
        return Applied("already refunded", updated)
    ended = await enrollments_sql.end_enrollment(conn, str(updated.course_id), str(updated.user_id))
    return Applied("refunded; enrolment ended" if ended else "refunded", updated, refunded=True, enrolment_ended=ended)


# --- the webhook ---------------------------------------------------------------------------
def _parse(payload: bytes, *, id_field: str, type_field: str) -> dict[str, Any]:
    try:
        event = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The event is not valid JSON.", title="Malformed JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get(type_field), str):
        raise BadRequest(f"The event must be a JSON object with a string '{type_field}'.")
    if id_field and (not isinstance(event.get(id_field), str) or not 0 < len(event[id_field]) <= 255):
        raise BadRequest(f"The event needs a string '{id_field}'.")
    return event


def _check_size(ctx: AppContext, payload: bytes) -> None:
    if len(payload) > ctx.settings.max_body_bytes:
        raise PayloadTooLarge(f"The event is {len(payload)} bytes; the limit is {ctx.settings.max_body_bytes}.")


async def handle_webhook(ctx: AppContext, payload: bytes, signature_header: str | None) -> WebhookReceipt:
    """A Stripe event (`POST /api/payments/webhook`)."""
    _check_size(ctx, payload)
    settings = ctx.settings
    verify_stripe(payload, signature_header, settings.payment_secrets, tolerance_seconds=settings.payment_webhook_tolerance_seconds)
    event = _parse(payload, id_field="id", type_field="type")
    return await _process(ctx, event["id"], event["type"], event, stripe_fact(event))


async def handle_razorpay_webhook(
    ctx: AppContext, payload: bytes, signature: str | None, event_id: str | None
) -> WebhookReceipt:
    """A Razorpay event (`POST /api/payments/razorpay/webhook`).

    Razorpay's event id travels in `X-Razorpay-Event-Id`, outside the signature, and its
    signature carries no timestamp: a captured delivery could be replayed under a new id.
    So an event about a payment, refund or dispute is keyed by that entity (a refund of
    `rfnd_X` applies once however it is relabelled); only other events use the header.
    """
    _check_size(ctx, payload)
    verify_razorpay(payload, signature, ctx.settings.razorpay_secrets)
    event = _parse(payload, id_field="", type_field="event")
    fact = razorpay_fact(event)
    if fact.entity_id is not None:
        key = f"razorpay:{event['event']}:{fact.entity_id}"
    elif event_id is not None and 0 < len(event_id) <= 200:
        key = f"razorpay:{event_id}"
    else:
        # Without the header, the signed body itself identifies a delivery of the same event.
        key = "razorpay:body-" + hashlib.sha256(payload).hexdigest()
    return await _process(ctx, key, event["event"], event, fact)


async def _process(ctx: AppContext, event_id: str, event_type: str, event: dict[str, Any], fact: Fact) -> WebhookReceipt:
    async with ctx.db.transaction() as conn:
        if not await payments_sql.record_event(conn, event_id, event_type, event):
            previous = await payments_sql.get_event(conn, event_id)
            outcome = (previous.outcome if previous else None) or "recorded"
            return WebhookReceipt(received=True, event_id=event_id, duplicate=True, outcome=outcome)
        applied = await _apply(ctx, conn, fact)
        if applied.outcome.endswith("held until its payment lands") and fact.payment_ref:
            await payments_sql.hold(
                conn, event_id=event_id, provider=fact.provider, payment_ref=fact.payment_ref, kind=fact.kind,
                amount_cents=fact.amount or 0, cumulative=fact.cumulative, currency=(fact.currency or "").upper(),
            )
        await payments_sql.set_outcome(conn, event_id, applied.outcome)
    logger.info(
        "payment event processed",
        extra={"eventId": event_id, "type": event_type, "provider": fact.provider, "outcome": applied.outcome},
    )
    await _after_commit(ctx, event_id, event_type, fact, applied)
    return WebhookReceipt(received=True, event_id=event_id, duplicate=False, outcome=applied.outcome)


async def _after_commit(ctx: AppContext, event_id: str, event_type: str, fact: Fact, applied: Applied) -> None:
    # JSON-safe values for the audit rows and pushes that follow.
    purchase = plain(values(applied.purchase)) if applied.purchase else None
    target = f"purchase/{purchase['id']}" if purchase else f"payment-event/{event_id}"
    base = {"eventId": event_id, "type": event_type, "provider": fact.provider}
    if applied.mismatch:
        # One line per mismatch with a countable field: the alert in infra/bicep/modules/alerts.bicep.
        logger.warning(
            "payment mismatch",
            extra={**base, "paymentMismatch": 1, "reason": applied.mismatch, "purchaseId": purchase and purchase["id"]},
        )
        metrics.payment_mismatch(applied.mismatch)
        await audit.record(ctx, None, "payment.mismatch", target, {**base, "reason": applied.mismatch, **applied.details})
    if applied.enrolment is not None and purchase:
        await enrollments.after_enrolment(ctx, None, applied.enrolment, {**base, "purchaseId": purchase["id"]})
        # The checkout page waits for this rather than polling: the course is open now.
        paid = {"type": "purchase.completed", "purchaseId": purchase["id"], "courseId": purchase["course_id"],
                "at": datetime.now(UTC).isoformat()}
        await outbox.perform(ctx, "pubsub.user", {"userId": purchase["user_id"], "message": paid})
    if applied.disputed and purchase:
        await audit.record(ctx, None, "payment.disputed", target, {**base, **applied.details})
    if applied.refunded and purchase:
        course_id, user_id = purchase["course_id"], purchase["user_id"]
        if applied.enrolment_ended:
            await content_cache.unenrolled(ctx, course_id, user_id)
            await presence.leave_course_classes(ctx, course_id, user_id, "Your purchase of this course was refunded.")
        await dashboard.invalidate_dashboard(ctx, user_id)
        await audit.record(
            ctx, None, "payment.refunded", target,
            {**base, "courseId": course_id, "userId": user_id, "amountCents": purchase["amount_cents"],
             "enrolmentEnded": applied.enrolment_ended},
        )
        at = datetime.now(UTC)
        message = {
            "type": "purchase.refunded",
            "purchaseId": purchase["id"],
            "courseId": course_id,
            "amountCents": purchase["amount_cents"],
            "currency": purchase["currency"],
            "at": at.isoformat(),
        }
        await outbox.perform(ctx, "pubsub.user", {"userId": user_id, "message": message})
        await notify.notify_user(
            ctx, user_id, texts.refund_processed(purchase["id"], course_id, purchase["amount_cents"], purchase["currency"], at)
        )

