"""Domain logic by area: plain async functions that take an AppContext and raise domain errors.

One folder per area of the product: `content/`, `progress/`, `live/`, `admin/`, `payments/`.
What every area shares (access, the content cache, the outbox, idempotency, audit, users)
lives in `shared_code/platform/`.
"""
