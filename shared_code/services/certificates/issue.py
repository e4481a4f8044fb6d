"""Issuing a certificate and rendering its PDF, both as outbox effects.

Why it is shaped this way:

- **Any path may complete the last lesson** (a heartbeat crossing the threshold or written
  through, the flush, an offline sync, a passed quiz, a downloaded document). Each ends in
  `services/progress/completion.after_completion`, which calls `request` after every
  completion has committed; nothing else issues. Asking after each completion, not only
  when the path's own transaction counted the course complete, is what covers two last
  lessons completing at once: neither transaction sees the other's row, but the later
  check, after both committed, does (one statement per completion, and completions are
  rare next to heartbeats).
- **Exactly once.** The insert decides in SQL that the course is complete for an actively
  enrolled student and is keyed by (user, course), so two last lessons completing at once,
  or a retried effect, issue one certificate. `certificate_issued` runs only for the
  request whose insert made the row.
- **Never lost, never slow.** Issuing runs through `outbox.perform` (now, or retried from
  the queue); the PDF is rendered by the `certificate.render` effect, which
  `outbox.schedule` hands to the queue trigger so no request waits on it. Rendering is
  idempotent (the same blob is written again and the row points at it), so a retry does no harm.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from shared_code.adapters.postgres import certificates as certificates_sql
from shared_code.adapters.postgres.certificates import CertificateRow
from shared_code.context import AppContext, Effect
from shared_code.domain import notifications as texts
from shared_code.domain.certificates import new_code
from shared_code.platform import outbox
from shared_code.services.certificates.document import render_pdf
from shared_code.services.notifications import delivery as notify

logger = logging.getLogger("lectern.certificates")

ISSUE_EFFECT = "certificate.issue"
RENDER_EFFECT = "certificate.render"


def verification_url(ctx: AppContext, code: str) -> str:
    return f"{ctx.settings.public_base_url.rstrip('/')}/api/certificates/{code}"


def blob_name(row: CertificateRow) -> str:
    return f"{row.user_id}/{row.id}.pdf"


async def request(ctx: AppContext, user_id: str, course_id: str) -> None:
    """A completion made the course complete for this student: issue its certificate now,
    or from the outbox queue when that fails."""
    await outbox.perform(ctx, ISSUE_EFFECT, {"userId": user_id, "courseId": course_id})


async def issue_effect(ctx: AppContext, payload: dict[str, Any]) -> None:
    """Issues the certificate when the course is complete (a repeat finds it issued), then
    schedules its PDF while it has none."""
    user_id, course_id = str(payload["userId"]), str(payload["courseId"])
    async with ctx.db.connection() as conn:
        row = await certificates_sql.issue(
            conn, certificate_id=str(uuid.uuid4()), user_id=user_id, course_id=course_id, code=new_code()
        )
    if row is None:
        return  # the course is not complete (yet) for this student
    if row.issued_now:
        await certificate_issued(ctx, row)
    if row.pdf_blob is None:
        await outbox.schedule(ctx, RENDER_EFFECT, {"certificateId": str(row.id)})


async def certificate_issued(ctx: AppContext, row: CertificateRow) -> None:
    """Runs once per certificate, right after it was issued: the place to hook what should
    follow (a notification to the holder). Anything added here must be idempotent or go
    through the outbox, as the rest of this effect does."""
    logger.info(
        "certificate issued",
        extra={"certificateId": str(row.id), "userId": str(row.user_id), "courseId": str(row.course_id)},
    )
    # The dashboard shows the code: a snapshot built before the issue must not be served.
    await outbox.perform(ctx, "dashboard.invalidate", {"userId": str(row.user_id)})
    draft = texts.certificate_issued(row.code, str(row.course_id), row.course_title, row.issued_at)
    await notify.notify_user(ctx, str(row.user_id), draft)


async def render_effect(ctx: AppContext, payload: dict[str, Any]) -> None:
    """Renders the certificate's PDF into its private container and records where it is."""
    certificate_id = str(payload["certificateId"])
    async with ctx.db.connection() as conn:
        row = await certificates_sql.by_id(conn, certificate_id)
    if row is None or row.pdf_blob is not None:
        return  # gone, or rendered by an earlier try
    data = await asyncio.to_thread(
        render_pdf,
        holder_name=row.holder_name,
        course_title=row.course_title,
        issued_at=row.issued_at,
        code=row.code,
        verify_url=verification_url(ctx, row.code),
    )
    name = blob_name(row)
    await ctx.blobs.upload(
        ctx.settings.certificates_container,
        name,
        data,
        content_type="application/pdf",
        content_disposition=f'attachment; filename="certificate-{row.code}.pdf"',
    )
    async with ctx.db.connection() as conn:
        await certificates_sql.set_pdf(conn, certificate_id, name)
    logger.info("certificate rendered", extra={"certificateId": certificate_id, "bytes": len(data)})


def effects() -> dict[str, Effect]:
    """This package's outbox effects by kind (the bootstrap adds them to `ctx.effects`)."""
    return {ISSUE_EFFECT: issue_effect, RENDER_EFFECT: render_effect}
