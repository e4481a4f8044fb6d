"""The payment providers' APIs, through their official SDKs: Stripe Checkout Sessions and
Razorpay Orders. Built once per worker process (in the context), closed with it.

Every call names the amount and currency from our purchase row, never from a client. A
provider that cannot be reached, or refuses a well-formed request, is a 503 for the
caller: nothing was bought, and the same checkout can be asked for again. Stripe calls are
made with an idempotency key derived from the purchase id, so a retry after a lost answer
finds the session the first call created. The Razorpay SDK is synchronous (`requests`), so
its calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import razorpay
import requests
import stripe

from shared_code.errors import ServiceUnavailable
from shared_code.settings import Settings

logger = logging.getLogger("lectern.payments")

CALL_TIMEOUT_SECONDS = 15


@dataclass(frozen=True)
class StripeCheckout:
    session_id: str
    url: str


class PaymentProviders:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stripe: stripe.StripeClient | None = None
        # Kept to close its aiohttp session with the context.
        self._stripe_http = stripe.AIOHTTPClient(timeout=CALL_TIMEOUT_SECONDS)
        stripe_key = settings.stripe_secret_key.get_secret_value()
        if stripe_key:
            bases = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
            self._stripe = stripe.StripeClient(
                stripe_key,
                base_addresses=bases,  # type: ignore[arg-type]
                http_client=self._stripe_http,
                max_network_retries=1,
            )
        self._razorpay: razorpay.Client | None = None
        razorpay_secret = settings.razorpay_key_secret.get_secret_value()
        if settings.razorpay_key_id and razorpay_secret:
            options = {"base_url": settings.razorpay_api_base} if settings.razorpay_api_base else {}
            self._razorpay = razorpay.Client(auth=(settings.razorpay_key_id, razorpay_secret), **options)

    def configured(self, provider: str) -> bool:
        return (self._stripe if provider == "stripe" else self._razorpay) is not None

    async def create_stripe_checkout(
        self, *, purchase_id: str, amount_cents: int, currency: str, title: str, success_url: str, cancel_url: str
    ) -> StripeCheckout:
        if self._stripe is None:
            raise ServiceUnavailable("Stripe is not configured on this server.", retry_after=300)
        params = {
            "mode": "payment",
            "line_items": [{
                "quantity": 1,
                "price_data": {"currency": currency.lower(), "unit_amount": amount_cents, "product_data": {"name": title[:200]}},
            }],
            "client_reference_id": purchase_id,
            "metadata": {"purchaseId": purchase_id},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        try:
            session = await self._stripe.v1.checkout.sessions.create_async(
                params=params, options={"idempotency_key": f"lectern-checkout-{purchase_id}"}  # type: ignore[arg-type]
            )
        except stripe.StripeError as exc:
            logger.warning("stripe checkout failed", extra={"purchaseId": purchase_id, "error": str(exc)[:300]})
            raise ServiceUnavailable("The payment provider did not create the checkout; try again.", retry_after=10) from None
        return StripeCheckout(session_id=session.id, url=session.url or "")

    async def create_razorpay_order(self, *, purchase_id: str, amount_cents: int, currency: str) -> str:
        client = self._razorpay
        if client is None:
            raise ServiceUnavailable("Razorpay is not configured on this server.", retry_after=300)
        data = {"amount": amount_cents, "currency": currency.upper(), "receipt": purchase_id[:40], "notes": {"purchaseId": purchase_id}}
        try:
            order = await asyncio.to_thread(client.order.create, data, timeout=CALL_TIMEOUT_SECONDS)
        except (razorpay.errors.BadRequestError, razorpay.errors.GatewayError, razorpay.errors.ServerError,
                requests.RequestException, ValueError) as exc:
            logger.warning("razorpay order failed", extra={"purchaseId": purchase_id, "error": str(exc)[:300]})
            raise ServiceUnavailable("The payment provider did not create the order; try again.", retry_after=10) from None
        return str(order["id"])

    async def close(self) -> None:
        await self._stripe_http.close_async()
