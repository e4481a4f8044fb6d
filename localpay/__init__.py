"""A local stand-in for the payment providers Lectern uses (Stripe and Razorpay).

Neither provider's API is reachable in local runs and tests, so this small aiohttp server
answers the few calls Lectern makes, in the providers' own wire formats, so the official
SDKs work against it unchanged (Stripe's `base_addresses`, Razorpay's `base_url`). A
development-only endpoint then "pays" a checkout by sending the signed webhook events a
real provider would send. See localpay/README.md.
"""
