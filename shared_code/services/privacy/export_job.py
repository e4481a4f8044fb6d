"""Full privacy exports: every row of every section, built off the request into one file.

The bounded export (`operations.export_user`) answers at once but holds at most a page of
rows per section; a person's right to their data is to all of it. So a full export is a
job:

- **Request** (`request_export`): one pending export per person at a time (a repeated
  request gets the pending one, so a script cannot queue a thousand builds); the build is
  handed to the outbox queue (`outbox.schedule`), which retries it and, while the queue is
  down, parks it in PostgreSQL. Answered 202 with the export's id; audited.
- **Build** (`build_export`, the outbox effect `privacy.export.build`): every section
  streamed in full (PostgreSQL a chunk of rows at a time, Tables a page at a time) into a
  JSON document written as staged blocks, so memory stays about one block whatever the
  person holds. The blob shows only when its block list commits; then the row turns
  `ready` with the size, the rows per section and an expiry, and the person is notified.
  A build whose export is no longer pending (erased meanwhile, or already built by an
  earlier run) writes nothing, or removes what it wrote.
- **Download** (`export_status`): the row, and while it is ready a URL for exactly that
  blob, read-only, for `LECTERN_SAS_MINUTES`. Each URL handed out is audited.
- **Expiry** (`expire_exports`, the daily timer): after `LECTERN_PRIVACY_EXPORT_DAYS` the
  blob is deleted and the row says `expired`; a build that never finished (its retries ran
  out) is marked `failed` after an hour, and the person may ask again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from shared_code import json_codec
from shared_code.adapters.postgres import privacy_exports as exports_sql
from shared_code.adapters.postgres.privacy_exports import ExportRow
from shared_code.auth import Principal
from shared_code.context import AppContext, Effect
from shared_code.domain import notifications as texts
from shared_code.errors import NotFound
from shared_code.models.privacy import ExportJob, ExportJobList
from shared_code.platform import audit, outbox
from shared_code.services.notifications import delivery as notify
from shared_code.services.privacy.operations import require_user
from shared_code.services.privacy.postgres_sections import subject_of
from shared_code.services.privacy.registry import SECTIONS
from shared_code.services.privacy.sections import Subject

logger = logging.getLogger("lectern.privacy")

BUILD_EFFECT = "privacy.export.build"
# A block of the document: large enough that a big export is few requests, small enough
# that the build holds little.
BLOCK_BYTES = 1 << 20
# Exports a list shows: a person asks for a few a year.
EXPORTS_LISTED = 20
# How long one build may take (inside host.json's five-minute function timeout).
BUILD_SECONDS = 240
# Exports whose blobs one timer run deletes.
EXPIRE_BATCH = 200


def _blob_name(row: ExportRow) -> str:
    return f"{row.user_id}/{row.id}.json"


def _view(row: ExportRow, *, url: str | None = None, url_expires_at: datetime | None = None) -> ExportJob:
    return ExportJob(
        id=row.id, user_id=row.user_id, status=row.status,
        requested_at=row.requested_at, completed_at=row.completed_at, expires_at=row.expires_at,
        size_bytes=row.size_bytes, rows=row.counts, download_url=url, download_url_expires_at=url_expires_at,
    )


async def request_export(ctx: AppContext, actor: Principal, user_id: str) -> tuple[ExportJob, bool]:
    """The person's pending export and whether this request made it (404: no such person)."""
    await require_user(ctx, user_id)
    async with ctx.db.transaction() as conn:
        row, made = await exports_sql.request(conn, str(uuid.uuid4()), user_id, actor.user_id)
    if not made:
        return _view(row), False
    # After the commit, so the build never looks for a row not there yet.
    try:
        await outbox.schedule(ctx, BUILD_EFFECT, {"exportId": str(row.id)})
    except BaseException:
        # Neither queued nor parked: not made after all (the caller gets the error and may ask again).
        async with ctx.db.connection() as conn:
            await exports_sql.mark_failed(conn, str(row.id), "the build could not be queued")
        raise
    await audit.record(ctx, actor, "user.export.requested", f"user:{user_id}",
                       {"self": actor.user_id == user_id, "exportId": str(row.id)})
    return _view(row), True


async def export_status(ctx: AppContext, actor: Principal, user_id: str, export_id: str) -> ExportJob:
    """One export of the person; while ready, with a download URL (audited when handed out)."""
    async with ctx.db.connection() as conn:
        row = await exports_sql.get(conn, export_id, user_id)
    if row is None:
        raise NotFound("No such export.")
    if row.status != "ready" or row.blob_name is None:
        return _view(row)
    url, url_expires = await ctx.blobs.sas_url(
        ctx.settings.privacy_exports_container, row.blob_name, permission="r", minutes=ctx.settings.sas_minutes,
        content_disposition=f'attachment; filename="lectern-export-{row.id}.json"', content_type="application/json",
    )
    await audit.record(ctx, actor, "user.export.downloaded", f"user:{user_id}",
                       {"self": actor.user_id == user_id, "exportId": str(row.id)})
    return _view(row, url=url, url_expires_at=url_expires)


async def list_exports(ctx: AppContext, user_id: str) -> ExportJobList:
    """The person's newest exports, without download URLs (404: no such person)."""
    await require_user(ctx, user_id)
    async with ctx.db.connection() as conn:
        rows = await exports_sql.newest(conn, user_id, EXPORTS_LISTED)
    return ExportJobList(items=[_view(row) for row in rows])


async def _document(ctx: AppContext, subject: Subject, counts: dict[str, int]) -> AsyncIterator[bytes]:
    """The export as JSON, a piece at a time: the bounded export's shape, every row."""
    head = json_codec.document({"userId": subject.user_id, "exportedAt": datetime.now(UTC), "complete": True})
    yield head[:-1] + b',"sections":{'
    first_section = True
    for section in SECTIONS:
        if section.export is None:
            continue
        yield (b"" if first_section else b",") + json_codec.document(section.name) + b':{"store":' + \
            json_codec.document(section.store) + b',"items":['
        first_section = False
        count = 0
        async for row in section.export(ctx, subject, None):
            yield (b"," if count else b"") + json_codec.document(row)
            count += 1
        counts[section.name] = count
        yield b"]}"
    yield b"}}"


async def _blocks(pieces: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    buffer = bytearray()
    async for piece in pieces:
        buffer += piece
        if len(buffer) >= BLOCK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


async def build_export(ctx: AppContext, payload: dict[str, str]) -> None:
    """The outbox effect: builds a pending export's file. Safe to run again: a run whose
    export is no longer pending does nothing, and a blob is only ever written whole."""
    async with ctx.db.connection() as conn:
        row = await exports_sql.pending(conn, payload["exportId"])
    if row is None:
        return
    subject = await subject_of(ctx, str(row.user_id), None)
    counts: dict[str, int] = {}
    blob = _blob_name(row)
    size = await ctx.blobs.upload_blocks(
        ctx.settings.privacy_exports_container, blob, _blocks(_document(ctx, subject, counts)),
        content_type="application/json", content_disposition=f'attachment; filename="lectern-export-{row.id}.json"',
    )
    expires_at = datetime.now(UTC) + timedelta(days=ctx.settings.privacy_export_days)
    async with ctx.db.transaction() as conn:
        ready = await exports_sql.mark_ready(conn, str(row.id), blob, size, counts, expires_at)
    if ready is None:
        # Erased (or finished by another run) while this one built: keep nothing of it.
        async with ctx.db.connection() as conn:
            still = await exports_sql.get(conn, str(row.id), str(row.user_id))
        if still is None or still.blob_name != blob:
            await ctx.blobs.delete(ctx.settings.privacy_exports_container, blob)
        return
    logger.info("privacy export ready", extra={"userId": str(row.user_id), "exportId": str(row.id), "bytes": size})
    await notify.notify_user(ctx, str(row.user_id), texts.export_ready(str(row.id), expires_at, datetime.now(UTC)))


async def expire_exports(ctx: AppContext) -> int:
    """Deletes the files of exports past their time (the timer's part); how many."""
    async with ctx.db.transaction() as conn:
        expired = await exports_sql.expire_due(conn, EXPIRE_BATCH)
    for row in expired:
        if row.blob_name:
            await ctx.blobs.delete(ctx.settings.privacy_exports_container, row.blob_name)
    if expired:
        logger.info("privacy exports expired", extra={"count": len(expired)})
    return len(expired)


def effects() -> dict[str, Effect]:
    """This module's outbox effects by kind. The build may take minutes for a person with
    years of rows: it runs only from the queue, within the host's function timeout."""
    return {BUILD_EFFECT: outbox.long_running(build_export, seconds=BUILD_SECONDS)}
