"""Helpers for progress scenarios that need time to have passed."""

from __future__ import annotations

from datetime import timedelta

import psycopg


async def enrolled_earlier(postgres_url: str, user_id: str, course_id: str, by: timedelta) -> None:
    """Moves an enrolment back in time: the only way for a test to have been enrolled for a
    while (offline viewing before the enrolment is refused)."""
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        await conn.execute(
            "UPDATE enrollments SET created_at = created_at - %s WHERE user_id = %s AND course_id = %s",
            (by, user_id, course_id),
        )
