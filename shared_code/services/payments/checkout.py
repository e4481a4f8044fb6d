"""Checkout: a student asks to buy a paid course; the server creates the provider's checkout
at its own price and records a pending purchase that only that checkout can complete.

- The amount and currency come from the course row, never from the request: the client
  only picks the provider.
- One open checkout per student, course and provider: asking again returns the pending
  purchase (200) instead of a second one, so a double click cannot make two payments
  possible. A pending purchase whose price no longer matches the course (the tutor changed
  it) is retired as `failed` and a new one is made at the new price.
- The provider call is not part of a database transaction (it can take seconds), so
  `Idempotency-Key` is claimed before it and settled after; Stripe gets an idempotency key
  derived from the purchase id of its own.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from shared_code.adapters.postgres import courses as courses_sql
from shared_code.adapters.postgres import purchases as purchases_sql
from shared_code.adapters.postgres.purchases import PurchaseRow
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import Conflict, Forbidden, Invalid, LecternError, NotFound, ServiceUnavailable
from shared_code.models.payments import Checkout, CheckoutRequest, Purchase, PurchasePage
from shared_code.platform import idempotency
from shared_code.platform.access import course_access
from shared_code.platform.users import ensure_user
from shared_code.services.content.paging import cursor_after, position_of

PROVIDERS = ("stripe", "razorpay")


def purchase_out(row: PurchaseRow) -> Purchase:
    return Purchase.model_validate(row)  # same field names: the model reads the row's attributes


def checkout_out(ctx: AppContext, row: PurchaseRow) -> Checkout:
    return Checkout(
        purchase_id=row.id,
        provider=row.provider,
        provider_ref=row.provider_ref,
        amount_cents=row.amount_cents,
        currency=row.currency,
        checkout_url=row.checkout_url if row.provider == "stripe" else None,
        razorpay_key_id=ctx.settings.razorpay_key_id if row.provider == "razorpay" else None,
    )


def _return_urls(ctx: AppContext, purchase_id: str, course_id: str) -> tuple[str, str]:
    base = ctx.settings.payment_return_url or f"{ctx.settings.public_base_url.rstrip('/')}/api/live/app"
    sep = "&" if "?" in base else "?"

    def url(outcome: str) -> str:
        return base + sep + urlencode({"purchase": purchase_id, "course": course_id, "checkout": outcome})

    return url("success"), url("cancelled")


async def start_checkout(
    ctx: AppContext, principal: Principal, course_id: str, body: CheckoutRequest, *, idempotency_key: str | None
) -> tuple[int, dict[str, Any]]:
    """201 with a new checkout, 200 with the pending one (or an earlier answer to the same key)."""
    if not principal.has_role("student"):
        raise Forbidden("Only students buy courses.")
    provider = body.provider or ctx.settings.payment_default_provider
    if provider not in PROVIDERS or not ctx.payments.configured(provider):
        raise ServiceUnavailable(f"Payments through {provider} are not configured on this server.", retry_after=300)
    access = await course_access(ctx, principal, course_id)  # 404 for a draft the caller cannot see
    if not access.published:
        raise NotFound("No such course.")
    if access.relation != "none":
        raise Conflict("You already have access to this course.")
    if access.price_cents <= 0:
        raise Invalid("This course is free: enrol directly.")
    key = idempotency.check_key(idempotency_key, required=False)
    request = {"courseId": course_id, "provider": provider}
    if key is None:
        status, out = await _checkout(ctx, principal, course_id, provider)
        return status, out
    earlier = await idempotency.replay_or_claim(ctx, user_id=principal.user_id, scope="checkout", key=key, body=request)
    if earlier is not None:
        return earlier.status, earlier.body
    try:
        status, out = await _checkout(ctx, principal, course_id, provider)
    except LecternError as exc:
        await idempotency.settle(ctx, user_id=principal.user_id, scope="checkout", key=key,
                                 status=exc.status if exc.status < 500 else None, response=None)
        raise
    except BaseException:
        await idempotency.settle(ctx, user_id=principal.user_id, scope="checkout", key=key, status=None, response=None)
        raise
    await idempotency.settle(ctx, user_id=principal.user_id, scope="checkout", key=key, status=status, response=out)
    return status, out


async def _checkout(ctx: AppContext, principal: Principal, course_id: str, provider: str) -> tuple[int, dict[str, Any]]:
    await ensure_user(ctx, principal)
    async with ctx.db.transaction() as conn:
        course = await courses_sql.get_course(conn, course_id)
        if course is None:
            raise NotFound("No such course.")
        amount, currency = course.price_cents, course.currency
        pending = await purchases_sql.pending_purchase(conn, course_id, principal.user_id, provider)
        if pending is not None:
            if pending.amount_cents == amount and pending.currency == currency:
                return 200, _json(ctx, pending)
            await purchases_sql.update_purchase(conn, str(pending.id), {"status": "failed"})
    if amount <= 0:
        raise Invalid("This course is free: enrol directly.")
    purchase_id = str(uuid.uuid4())
    checkout_url: str | None = None
    if provider == "stripe":
        success_url, cancel_url = _return_urls(ctx, purchase_id, course_id)
        session = await ctx.payments.create_stripe_checkout(
            purchase_id=purchase_id, amount_cents=amount, currency=currency, title=course.title,
            success_url=success_url, cancel_url=cancel_url,
        )
        provider_ref, checkout_url = session.session_id, session.url
    else:
        provider_ref = await ctx.payments.create_razorpay_order(purchase_id=purchase_id, amount_cents=amount, currency=currency)
    async with ctx.db.transaction() as conn:
        row = await purchases_sql.insert_purchase(
            conn, purchase_id=purchase_id, provider=provider, provider_ref=provider_ref, course_id=course_id,
            user_id=principal.user_id, amount_cents=amount, currency=currency, checkout_url=checkout_url,
        )
        if row is None:
            # A concurrent request made the pending purchase first; its checkout stands, ours expires unused.
            row = await purchases_sql.pending_purchase(conn, course_id, principal.user_id, provider)
            if row is None:
                raise Conflict("Another checkout for this course just finished; look at your purchases.")
            return 200, _json(ctx, row)
    return 201, _json(ctx, row)


def _json(ctx: AppContext, row: PurchaseRow) -> dict[str, Any]:
    return checkout_out(ctx, row).model_dump(mode="json", by_alias=True)


async def list_purchases(ctx: AppContext, principal: Principal, *, limit: int, cursor: str | None) -> PurchasePage:
    after = position_of(cursor)
    async with ctx.db.connection() as conn:
        rows = await purchases_sql.list_purchases(conn, principal.user_id, after=after, limit=limit + 1)
    page, next_cursor = rows[:limit], None
    if len(rows) > limit:
        next_cursor = cursor_after(page[-1].created_at, page[-1].id)
    return PurchasePage(items=[purchase_out(r) for r in page], next_cursor=next_cursor)
