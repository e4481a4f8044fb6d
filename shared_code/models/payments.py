"""Wire models of purchases: the checkout a student asks for and the purchases they made."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from shared_code.models.base import ApiModel, StrictInput

Provider = Literal["stripe", "razorpay"]
PurchaseStatus = Literal["pending", "paid", "failed", "refunded", "disputed"]


class CheckoutRequest(StrictInput):
    model_config = ConfigDict(json_schema_extra={"examples": [{"provider": "stripe"}]})

    provider: Provider | None = Field(None, description="Omitted means the server's default provider.")


class Checkout(ApiModel):
    """What the browser needs to pay: Stripe's hosted page, or Razorpay's widget with the order id."""

    purchase_id: uuid.UUID
    provider: Provider
    provider_ref: str = Field(description="Stripe Checkout Session id (cs_...) or Razorpay Order id (order_...).")
    amount_cents: int
    currency: str
    checkout_url: str | None = None
    razorpay_key_id: str | None = None


class Purchase(ApiModel):
    id: uuid.UUID
    provider: Provider
    provider_ref: str
    course_id: uuid.UUID
    amount_cents: int
    currency: str
    status: PurchaseStatus
    refunded_cents: int = 0
    paid_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class PurchasePage(ApiModel):
    items: list[Purchase]
    next_cursor: str | None = None
