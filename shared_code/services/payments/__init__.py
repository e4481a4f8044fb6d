"""Payments: checkout (`checkout.py`) and the provider webhooks that enrol buyers, refund and
record disputes (`webhooks.py`)."""
