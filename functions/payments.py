"""Purchases: a student's checkout and purchase list, and the providers' signed webhooks.

The webhooks authenticate by signature, not by token: their signature covers the raw
bytes, so the body is verified before it is parsed.
"""

from __future__ import annotations

import azure.functions as func

from shared_code.http import Call, endpoint, header, json_body, query, respond, route_id
from shared_code.models.content import WebhookReceipt
from shared_code.models.payments import Checkout, CheckoutRequest, PurchasePage
from shared_code.pagination import PageQuery
from shared_code.services.payments import checkout
from shared_code.services.payments import webhooks as payments

bp = func.Blueprint()

TAG = "payments"


@endpoint(
    bp, "courses/{courseId}/checkout", ["POST"],
    summary="Start buying a paid course: the provider's checkout at the server's price", tag=TAG,
    request=CheckoutRequest, response=Checkout, status=201, also=(200,), roles=("student",),
    errors=(409, 422, 503), idempotency_in_service=True,
)
async def start_checkout(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    course_id = route_id(req, "courseId")
    body = json_body(req, CheckoutRequest, allow_empty=True)
    status, out = await checkout.start_checkout(call.ctx, call.principal, course_id, body, idempotency_key=header(req, "idempotency-key"))
    return respond(out, status=status)


@endpoint(bp, "me/purchases", ["GET"], summary="The caller's purchases with their status", tag=TAG, query=PageQuery, response=PurchasePage)
async def my_purchases(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    page = query(req, PageQuery)
    return respond(await checkout.list_purchases(call.ctx, call.principal, limit=page.limit, cursor=page.cursor))


@endpoint(
    bp, "payments/webhook", ["POST"], summary="Stripe's signed events (Stripe calls this)",
    tag=TAG, response=WebhookReceipt, auth=False, errors=(413,),
)
async def payment_webhook(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    payload = req.get_body() or b""
    receipt = await payments.handle_webhook(call.ctx, payload, header(req, "stripe-signature"))
    return respond(receipt)


@endpoint(
    bp, "payments/razorpay/webhook", ["POST"], summary="Razorpay's signed events (Razorpay calls this)",
    tag=TAG, response=WebhookReceipt, auth=False, errors=(413,),
)
async def razorpay_webhook(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    payload = req.get_body() or b""
    receipt = await payments.handle_razorpay_webhook(
        call.ctx, payload, header(req, "x-razorpay-signature"), header(req, "x-razorpay-event-id")
    )
    return respond(receipt)
