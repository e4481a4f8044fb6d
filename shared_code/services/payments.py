"""The payment provider's webhook: Stripe-style signed events that enrol buyers exactly once.

Signature: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]`, each `v1` an
HMAC-SHA256 over `"<t>.<raw body>"`. Several secrets may be configured at once
(`PAYMENT_WEBHOOK_SECRETS`, comma-separated) so a secret can be rotated without
dropping events; a timestamp outside the tolerance window is refused so a captured
delivery cannot be replayed later.

Exactly once: the provider retries, duplicates and reorders deliveries. Each event id is
recorded in `payment_events` in the same transaction as the enrolment it causes; a
second delivery finds the id and changes nothing. Two different events for one purchase
(`checkout.session.completed` and `checkout.session.async_payment_succeeded`) still
make one enrolment, because the enrolment row itself is unique per course and user.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from shared_code.adapters.postgres import courses as courses_sql
from shared_code.adapters.postgres import payments as payments_sql
from shared_code.adapters.postgres import users as users_sql
from shared_code.context import AppContext
from shared_code.errors import BadRequest, PayloadTooLarge, ServiceUnavailable
from shared_code.models.content import WebhookReceipt
from shared_code.services import audit, enrollments

logger = logging.getLogger("lectern.payments")

ENROLLING_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
PAID_STATUSES = ("paid", "no_payment_required")
MAX_SIGNATURES = 8


class InvalidSignature(BadRequest):
    type_slug, title = "invalid-signature", "Invalid webhook signature"


@dataclass(frozen=True)
class SignatureHeader:
    timestamp: int
    signatures: tuple[str, ...]


def parse_signature_header(value: str | None) -> SignatureHeader:
    if not value:
        raise InvalidSignature("The 'Stripe-Signature' header is missing.")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in value.split(","):
        name, _, part = item.strip().partition("=")
        if name == "t":
            try:
                timestamp = int(part)
            except ValueError:
                raise InvalidSignature("The signature timestamp is not a number.") from None
        elif name == "v1" and part:
            signatures.append(part.strip().lower())
    if timestamp is None or not signatures:
        raise InvalidSignature("The 'Stripe-Signature' header needs t= and at least one v1=.")
    return SignatureHeader(timestamp=timestamp, signatures=tuple(signatures[:MAX_SIGNATURES]))


def signature_for(payload: bytes, secret: str, timestamp: int) -> str:
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The header a provider sends with `payload` (the provider's side; tests and tools use it)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={signature_for(payload, secret, t)}"


def verify_signature(
    payload: bytes, header: str | None, secrets: list[str], *, tolerance_seconds: int, now: float | None = None
) -> int:
    """The verified timestamp; InvalidSignature when no secret signed this payload within the window."""
    if not secrets:
        raise ServiceUnavailable("Payment webhooks are not configured on this server.", retry_after=60)
    parsed = parse_signature_header(header)
    current = time.time() if now is None else now
    if abs(current - parsed.timestamp) > tolerance_seconds:
        raise InvalidSignature("The signature timestamp is outside the tolerance window.")
    for secret in secrets:
        expected = signature_for(payload, secret, parsed.timestamp)
        if any(hmac.compare_digest(expected, offered) for offered in parsed.signatures):
            return parsed.timestamp
    raise InvalidSignature("No configured secret produced this signature.")


def _event(payload: bytes) -> dict[str, Any]:
    try:
        event = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The event is not valid JSON.", title="Malformed JSON") from None
    if not isinstance(event, dict):
        raise BadRequest("The event must be a JSON object.")
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 255 or not isinstance(event_type, str):
        raise BadRequest("The event needs a string 'id' and 'type'.")
    return event


def _uuid(value: Any) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def purchase_of(session: dict[str, Any]) -> tuple[str | None, str | None]:
    """(courseId, userId) of a checkout session: `metadata` first, then `client_reference_id`.

    `client_reference_id` may hold `<courseId>:<userId>`, or just the user id when the
    course is in the metadata.
    """
    metadata = session.get("metadata") if isinstance(session.get("metadata"), dict) else {}
    course_id, user_id = metadata.get("courseId"), metadata.get("userId")
    reference = session.get("client_reference_id")
    if isinstance(reference, str) and reference:
        if ":" in reference:
            ref_course, _, ref_user = reference.partition(":")
            course_id, user_id = course_id or ref_course, user_id or ref_user
        else:
            user_id = user_id or reference
    return (_uuid(course_id) if course_id else None), (_uuid(user_id) if user_id else None)


async def _apply(conn: AsyncConnection, event: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """What the event does, inside the transaction that recorded it: (outcome, new enrolment row)."""
    event_type = event["type"]
    if event_type not in ENROLLING_EVENTS:
        return "ignored", None
    data = event.get("data")
    session = data.get("object") if isinstance(data, dict) else None
    if not isinstance(session, dict):
        return "unmatched: no data.object", None
    status = session.get("payment_status")
    if event_type == "checkout.session.completed" and status is not None and status not in PAID_STATUSES:
        return f"awaiting payment ({status})", None
    course_id, user_id = purchase_of(session)
    if course_id is None or user_id is None:
        return "unmatched: no courseId/userId", None
    if await courses_sql.get_course(conn, course_id) is None:
        return "unmatched: unknown course", None
    # The buyer may have paid before ever calling the API; the enrolment needs their row.
    await users_sql.upsert_user(conn, user_id, "", [])
    row, created = await enrollments.insert(conn, course_id, user_id, "payment")
    return ("enrolled" if created else "already enrolled"), (row if created else None)


async def handle_webhook(ctx: AppContext, payload: bytes, signature_header: str | None) -> WebhookReceipt:
    settings = ctx.settings
    if len(payload) > settings.max_body_bytes:
        raise PayloadTooLarge(f"The event is {len(payload)} bytes; the limit is {settings.max_body_bytes}.")
    verify_signature(
        payload, signature_header, settings.payment_secrets, tolerance_seconds=settings.payment_webhook_tolerance_seconds
    )
    event = _event(payload)
    event_id = event["id"]
    async with ctx.db.transaction() as conn:
        if not await payments_sql.record_event(conn, event_id, event["type"], event):
            previous = await payments_sql.get_event(conn, event_id)
            outcome = (previous or {}).get("outcome") or "recorded"
            return WebhookReceipt(received=True, event_id=event_id, duplicate=True, outcome=outcome)
        outcome, enrolment = await _apply(conn, event)
        await payments_sql.set_outcome(conn, event_id, outcome)
    logger.info("payment event processed", extra={"eventId": event_id, "type": event["type"], "outcome": outcome})
    if enrolment is not None:
        await enrollments.after_enrolment(ctx, None, enrolment, {"eventId": event_id})
    elif outcome.startswith("unmatched"):
        await audit.record(ctx, None, "payment.unmatched", f"payment-event/{event_id}", {"type": event["type"], "outcome": outcome})
    return WebhookReceipt(received=True, event_id=event_id, duplicate=False, outcome=outcome)
