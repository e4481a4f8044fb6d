"""A full export's file is kept only its days: the clean-up timer's part deletes the file
of an export past its time and the export then says `expired`, with no download URL. A
build run twice (the outbox may repeat an effect) builds once."""

from __future__ import annotations

import psycopg
import pytest

from shared_code.context import AppContext
from shared_code.services.privacy import export_job
from tests.integration.conftest import person

pytestmark = pytest.mark.timeout(120)


async def _sql(stack, sql: str, *params) -> None:
    async with await psycopg.AsyncConnection.connect(stack.postgres_url, autocommit=True) as conn:
        await conn.execute(sql, params)


async def test_an_export_past_its_days_loses_its_file_and_says_expired(ctx: AppContext, stack):
    student = person("student")
    await _sql(stack, "INSERT INTO users (id, name, roles) VALUES (%s, %s, '{student}')", student.user_id, student.name)
    job, made = await export_job.request_export(ctx, student, student.user_id)
    assert made and job.status == "pending"
    await export_job.build_export(ctx, {"exportId": str(job.id)})
    ready = await export_job.export_status(ctx, student, student.user_id, str(job.id))
    assert ready.status == "ready" and ready.download_url and ready.rows and ready.rows["profile"] == 1
    blob = f"{student.user_id}/{job.id}.json"
    info = await ctx.blobs.info(ctx.settings.privacy_exports_container, blob)
    assert info is not None and info.size == ready.size_bytes

    # A repeated build (the outbox may run an effect twice) leaves the ready export as it was.
    await export_job.build_export(ctx, {"exportId": str(job.id)})
    again = await export_job.export_status(ctx, student, student.user_id, str(job.id))
    assert again.completed_at == ready.completed_at

    await _sql(stack, "UPDATE privacy_exports SET expires_at = now() - interval '1 minute' WHERE id = %s", str(job.id))
    assert await export_job.expire_exports(ctx) >= 1
    after = await export_job.export_status(ctx, student, student.user_id, str(job.id))
    assert after.status == "expired" and after.download_url is None
    assert await ctx.blobs.info(ctx.settings.privacy_exports_container, blob) is None
    # Nothing left to expire for this export: a second run does not touch it.
    await export_job.expire_exports(ctx)
    assert (await export_job.export_status(ctx, student, student.user_id, str(job.id))).status == "expired"
