"""The privacy sections kept in PostgreSQL (SQL in `adapters/postgres/privacy.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic.alias_generators import to_camel

from shared_code.adapters.postgres import privacy as privacy_sql
from shared_code.adapters.postgres import privacy_exports as exports_sql
from shared_code.adapters.postgres import users as users_sql
from shared_code.adapters.postgres.pool import Conn, Row
from shared_code.context import AppContext
from shared_code.services.privacy.sections import ERASED_NAME, ERASED_TEXT, Exporter, Subject

Query = Callable[[Conn, str, int | None], AsyncIterator[Row]]


def rows_of(query: Query) -> Exporter:
    """An exporter from one streamed query, its columns camelCased as the wire names things.
    The section holds one pooled connection while its rows stream."""

    async def export(ctx: AppContext, subject: Subject, limit: int | None) -> AsyncIterator[dict[str, Any]]:
        async with ctx.db.connection() as conn:
            async for row in query(conn, subject.user_id, limit):
                yield {to_camel(k): v for k, v in row.items()}

    return export


async def subject_of(ctx: AppContext, user_id: str, limit: int | None) -> Subject:
    async with ctx.db.connection() as conn:
        courses = await privacy_sql.course_ids(conn, user_id, limit)
        classes = await privacy_sql.class_ids(conn, user_id, courses, limit)
    return Subject(user_id=user_id, course_ids=tuple(courses), class_ids=tuple(classes))


async def erase_profile(ctx: AppContext, subject: Subject) -> int:
    """Name and email gone, no roles, `erased_at` set: from here on the account's tokens are refused."""
    async with ctx.db.transaction() as conn:
        return 1 if await users_sql.erase(conn, subject.user_id, ERASED_NAME) else 0


async def erase_chat(ctx: AppContext, subject: Subject) -> int:
    async with ctx.db.transaction() as conn:
        return await privacy_sql.erase_chat(conn, subject.user_id, ERASED_NAME, ERASED_TEXT)


async def erase_idempotency_keys(ctx: AppContext, subject: Subject) -> int:
    async with ctx.db.transaction() as conn:
        return await privacy_sql.erase_idempotency_keys(conn, subject.user_id)


async def erase_notifications(ctx: AppContext, subject: Subject) -> int:
    async with ctx.db.transaction() as conn:
        return await privacy_sql.erase_notifications(conn, subject.user_id)


async def revoke_calendar_feed(ctx: AppContext, subject: Subject) -> int:
    async with ctx.db.transaction() as conn:
        return await privacy_sql.revoke_calendar_feed(conn, subject.user_id)


async def erase_certificates(ctx: AppContext, subject: Subject) -> int:
    """Rows first (verification stops at once), then their PDFs; a blob left by a failure is
    unreachable (no row names it, and SAS URLs are issued only through a row)."""
    async with ctx.db.transaction() as conn:
        blobs = await privacy_sql.erase_certificates(conn, subject.user_id)
    for blob in blobs:
        await ctx.blobs.delete(ctx.settings.certificates_container, blob)
    return len(blobs)


async def erase_exports(ctx: AppContext, subject: Subject) -> int:
    """The person's full exports and their files (`export_job.py`). Rows first, so a build
    still running finds its export gone and removes what it wrote."""
    async with ctx.db.transaction() as conn:
        blobs = await exports_sql.erase(conn, subject.user_id)
    for blob in blobs:
        await ctx.blobs.delete(ctx.settings.privacy_exports_container, blob)
    return len(blobs)

