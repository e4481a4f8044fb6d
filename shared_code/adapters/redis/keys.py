"""Every Redis key the app uses, in one place, so no two areas can collide.

Areas add their own section below; nothing outside shared_code/adapters/redis spells a key.
"""

from __future__ import annotations

PREFIX = "lectern"


def _k(*parts: object) -> str:
    return ":".join((PREFIX, *(str(p) for p in parts)))


# --- system --------------------------------------------------------------------------
def health_probe() -> str:
    return _k("health", "probe")


def rate_limit(bucket: str, subject: str) -> str:
    return _k("rl", bucket, subject)
