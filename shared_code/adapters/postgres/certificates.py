"""SQL for `certificates`: one per (student, course), issued when every lesson is complete."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.postgres.rows import columns, fetch_all, fetch_one


@dataclass(frozen=True)
class CertificateRow:
    """A `certificates` row; its fields are the columns every query here selects."""

    id: uuid.UUID
    user_id: uuid.UUID
    course_id: uuid.UUID
    code: str
    holder_name: str
    course_title: str
    issued_at: datetime
    pdf_blob: str | None


@dataclass(frozen=True)
class IssuedCertificate(CertificateRow):
    """The certificate `issue` found, and whether this call issued it."""

    issued_now: bool


COLUMNS = columns(CertificateRow)

# Issued only when the SQL itself finds the course complete for an actively enrolled
# student, so no caller's idea of "complete" is trusted; the (user, course) key makes a
# second issue (two last lessons completing at once, an effect retried) a no-op. Run after
# the completion committed, the count sees every committed completion: of two last lessons
# committed at once, the later one's check sees both. One round trip answers with the new
# row (`issued_now`) or the one that was there, or nothing while the course is incomplete.
_ISSUE = f"""
WITH issued AS (
    INSERT INTO certificates (id, user_id, course_id, code, holder_name, course_title)
    SELECT %(id)s, u.id, c.id, %(code)s, u.name, c.title
      FROM users u, courses c
     WHERE u.id = %(user)s AND c.id = %(course)s
       AND EXISTS (SELECT 1 FROM enrollments e
                    WHERE e.course_id = c.id AND e.user_id = u.id AND e.status = 'active')
       AND (SELECT count(*) FROM lessons l WHERE l.course_id = c.id) > 0
       AND (SELECT count(*) FROM lessons l WHERE l.course_id = c.id)
           <= (SELECT count(*) FROM video_progress vp
                WHERE vp.user_id = u.id AND vp.course_id = c.id AND vp.completed)
    ON CONFLICT (user_id, course_id) DO NOTHING
    RETURNING {COLUMNS}
)
SELECT {COLUMNS}, true AS issued_now FROM issued
UNION ALL
SELECT {COLUMNS}, false AS issued_now FROM certificates
 WHERE user_id = %(user)s AND course_id = %(course)s AND NOT EXISTS (SELECT 1 FROM issued)
"""


async def issue(
    conn: Conn, *, certificate_id: str, user_id: str, course_id: str, code: str
) -> IssuedCertificate | None:
    """The certificate, with `issued_now` when this call issued it; None while the course
    is not complete for this student (and none was issued before)."""
    return await fetch_one(
        conn, IssuedCertificate, _ISSUE, {"id": certificate_id, "code": code, "user": user_id, "course": course_id}
    )


async def by_id(conn: Conn, certificate_id: str) -> CertificateRow | None:
    return await fetch_one(conn, CertificateRow, f"SELECT {COLUMNS} FROM certificates WHERE id = %s", (certificate_id,))


async def by_code(conn: Conn, code: str) -> CertificateRow | None:
    return await fetch_one(conn, CertificateRow, f"SELECT {COLUMNS} FROM certificates WHERE code = %s", (code,))


async def set_pdf(conn: Conn, certificate_id: str, blob: str) -> None:
    await conn.execute("UPDATE certificates SET pdf_blob = %s WHERE id = %s", (blob, certificate_id))


async def list_for_user(
    conn: Conn, user_id: str, *, after: tuple[datetime, str] | None, limit: int
) -> list[CertificateRow]:
    """The user's certificates, newest first, strictly after the (issued_at, id) `after`."""
    if after is None:
        return await fetch_all(
            conn, CertificateRow,
            f"""SELECT {COLUMNS} FROM certificates WHERE user_id = %s
                 ORDER BY issued_at DESC, id DESC LIMIT %s""",
            (user_id, limit),
        )
    return await fetch_all(
        conn, CertificateRow,
        f"""SELECT {COLUMNS} FROM certificates WHERE user_id = %s AND (issued_at, id) < (%s, %s::uuid)
             ORDER BY issued_at DESC, id DESC LIMIT %s""",
        (user_id, after[0], after[1], limit),
    )


async def codes_by_course(conn: Conn, user_id: str, course_ids: list[str]) -> dict[str, str]:
    """The user's certificate code per course, for the courses given that have one (one query)."""
    if not course_ids:
        return {}
    cur = await conn.execute(
        "SELECT course_id, code FROM certificates WHERE user_id = %s AND course_id = ANY(%s::uuid[])",
        (user_id, course_ids),
    )
    return {str(r["course_id"]): str(r["code"]) for r in await cur.fetchall()}
