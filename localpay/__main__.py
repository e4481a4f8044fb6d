"""`python -m localpay --port P --stripe-webhook-url URL --razorpay-webhook-url URL`.

Webhook secrets come from the environment (LOCALPAY_STRIPE_WEBHOOK_SECRET,
LOCALPAY_RAZORPAY_WEBHOOK_SECRET) so they do not show in the process list;
LOCALPAY_LIVEMODE=true makes its checkouts live-mode ones.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from aiohttp import web

from localpay.server import Config, make_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Local stand-in for the Stripe and Razorpay APIs Lectern calls.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--stripe-webhook-url", default="http://127.0.0.1:7071/api/payments/webhook")
    parser.add_argument("--razorpay-webhook-url", default="http://127.0.0.1:7071/api/payments/razorpay/webhook")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    config = Config(
        port=args.port,
        stripe_webhook_url=args.stripe_webhook_url,
        razorpay_webhook_url=args.razorpay_webhook_url,
        stripe_webhook_secret=os.environ.get("LOCALPAY_STRIPE_WEBHOOK_SECRET", "whsec_local_development_only"),
        razorpay_webhook_secret=os.environ.get("LOCALPAY_RAZORPAY_WEBHOOK_SECRET", "rzp_whsec_local_development_only"),
        livemode=os.environ.get("LOCALPAY_LIVEMODE", "false").lower() == "true",
        public_url=f"http://{args.host}:{args.port}",
    )
    web.run_app(make_app(config), host=args.host, port=args.port, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
