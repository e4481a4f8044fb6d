"""The plumbing every service area shares: who may see a course (`access.py`), the content
metadata cache (`content_cache.py`), side effects that must not be lost (`outbox.py`,
`effects.py`), idempotent writes (`idempotency.py`), the audit trail (`audit.py`) and stored
accounts and roles (`users.py`). Nothing here imports a service area."""
