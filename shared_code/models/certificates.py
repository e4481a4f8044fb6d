"""Wire models of certificates: the holder's list, the public verification, the download."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from shared_code.models.base import ApiModel


class Certificate(ApiModel):
    """One of the caller's certificates."""

    id: uuid.UUID
    code: str = Field(description="The verification code printed on the certificate.")
    course_id: uuid.UUID
    course_title: str = Field(description="The course's title when the certificate was issued.")
    holder_name: str = Field(description="The holder's name when the certificate was issued.")
    issued_at: datetime
    pdf_ready: bool = Field(description="Whether the PDF is rendered and can be downloaded.")
    verify_url: str = Field(description="Where anyone can check the certificate, without signing in.")


class CertificatePage(ApiModel):
    items: list[Certificate]
    next_cursor: str | None = None


class CertificateVerification(ApiModel):
    """What anyone holding a code may learn: who completed which course, and when."""

    code: str
    holder_name: str
    course_title: str
    issued_at: datetime
