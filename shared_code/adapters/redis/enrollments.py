"""Redis side of enrolment: the cached answer to "is this user enrolled in this course?".

A value is `1` or `0`. Enrolling writes `1` over whatever is there; a reader that filled
the entry from PostgreSQL writes only when the key is absent, so a reader holding an
answer from before an enrolment can never overwrite the enrolment's `1`.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from shared_code.adapters.redis import keys

# An enrolment does not expire, so the positive answer can stay long; the negative one
# expires sooner so a lost write-through heals quickly.
ENROLLED_TTL_SECONDS = 7 * 24 * 3600


async def mark_enrolled(r: aioredis.Redis, course_id: str, user_id: str) -> None:
    await r.set(keys.content_member(course_id, user_id), "1", ex=ENROLLED_TTL_SECONDS)


async def mark_not_enrolled(r: aioredis.Redis, course_id: str, user_id: str) -> None:
    """After a refund ended an enrolment: `0` over whatever is there, so a cached `1` stops counting."""
    await r.set(keys.content_member(course_id, user_id), "0", ex=ENROLLED_TTL_SECONDS)


async def remember(r: aioredis.Redis, course_id: str, user_id: str, enrolled: bool, negative_ttl_seconds: int) -> None:
    ttl = ENROLLED_TTL_SECONDS if enrolled else negative_ttl_seconds
    await r.set(keys.content_member(course_id, user_id), "1" if enrolled else "0", ex=ttl, nx=True)


def decode(value: str | None) -> bool | None:
    """The cached answer, or None when there is none."""
    if value is None:
        return None
    return value == "1"
