"""The payment provider's webhook: signed events, `checkout.session.completed` enrols the buyer once."""

from __future__ import annotations

import azure.functions as func

from shared_code.context import get_context
from shared_code.http import endpoint, header, respond
from shared_code.models.content import WebhookReceipt
from shared_code.services import payments

bp = func.Blueprint()


@endpoint(
    bp, "payments/webhook", ["POST"], summary="Stripe-style signed payment events (the provider calls this)",
    tag="payments", response=WebhookReceipt, auth=False, errors=(413,),
)
async def payment_webhook(req: func.HttpRequest) -> func.HttpResponse:
    # The signature covers the raw bytes, so the body is verified before it is parsed.
    payload = req.get_body() or b""
    ctx = await get_context()
    receipt = await payments.handle_webhook(ctx, payload, header(req, "stripe-signature"))
    return respond(receipt)
