"""Reading certificates: the holder's list and download, and the public verification.

A code outside the alphabet or of the wrong length is a 404 before any query, like an
unknown one. A download is the holder's only: someone else's code is a 404 under `/me/`,
which is the caller's own collection. While the PDF is still being rendered the download
is a 409 with `Retry-After`: the certificate exists, its file does not yet.
"""

from __future__ import annotations

from shared_code.adapters.postgres import certificates as certificates_sql
from shared_code.adapters.postgres.certificates import CertificateRow
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.domain.certificates import normalise_code
from shared_code.errors import Conflict, NotFound
from shared_code.models.certificates import Certificate, CertificatePage, CertificateVerification
from shared_code.models.content import Download
from shared_code.services.certificates.issue import verification_url
from shared_code.services.content.paging import position_of, split_page

RENDER_RETRY_SECONDS = 5


def _out(ctx: AppContext, row: CertificateRow) -> Certificate:
    return Certificate(
        id=row.id,
        code=row.code,
        course_id=row.course_id,
        course_title=row.course_title,
        holder_name=row.holder_name,
        issued_at=row.issued_at,
        pdf_ready=row.pdf_blob is not None,
        verify_url=verification_url(ctx, row.code),
    )


async def _by_code(ctx: AppContext, text: str) -> CertificateRow:
    code = normalise_code(text)
    if code is None:
        raise NotFound("No such certificate.")
    async with ctx.db.connection() as conn:
        row = await certificates_sql.by_code(conn, code)
    if row is None:
        raise NotFound("No such certificate.")
    return row


async def list_mine(ctx: AppContext, principal: Principal, *, limit: int, cursor: str | None) -> CertificatePage:
    after = position_of(cursor)
    async with ctx.db.connection() as conn:
        rows = await certificates_sql.list_for_user(conn, principal.user_id, after=after, limit=limit + 1)
    page, next_cursor = split_page(rows, limit, "issued_at")
    return CertificatePage(items=[_out(ctx, r) for r in page], next_cursor=next_cursor)


async def verify(ctx: AppContext, code: str) -> CertificateVerification:
    row = await _by_code(ctx, code)
    return CertificateVerification.model_validate(row)


async def download(ctx: AppContext, principal: Principal, code: str) -> Download:
    """A read-only SAS to the holder's PDF, for minutes."""
    row = await _by_code(ctx, code)
    if str(row.user_id) != principal.user_id:
        raise NotFound("No such certificate.")
    if row.pdf_blob is None:
        raise Conflict(
            "The certificate's PDF is still being prepared; retry shortly.",
            title="Certificate not rendered yet",
            retry_after=RENDER_RETRY_SECONDS,
        )
    url, expires_at = await ctx.blobs.sas_url(
        ctx.settings.certificates_container,
        row.pdf_blob,
        permission="r",
        minutes=ctx.settings.sas_minutes,
        content_disposition=f'attachment; filename="certificate-{row.code}.pdf"',
        content_type="application/pdf",
    )
    return Download(url=url, expires_at=expires_at)
