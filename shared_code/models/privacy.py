"""Wire models of the privacy endpoints (export and erasure)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from shared_code.models.base import ApiModel


class ExportSection(ApiModel):
    """One table or store's rows about the user, newest first, at most `rowsPerSection`."""

    store: Literal["postgres", "tables", "redis", "webpubsub"]
    items: list[dict[str, Any]]
    truncated: bool


class PrivacyExport(ApiModel):
    """Everything Lectern holds about one user, one section per table or store
    (docs/privacy.md lists them)."""

    user_id: uuid.UUID
    exported_at: datetime
    rows_per_section: int
    sections: dict[str, ExportSection]


class ExportJob(ApiModel):
    """A full export: every row of every section in one JSON file, built off the request.
    `downloadUrl` is there while it is `ready`: read-only, for that one file, minutes."""

    id: uuid.UUID
    user_id: uuid.UUID
    status: Literal["pending", "ready", "failed", "expired"]
    requested_at: datetime
    completed_at: datetime | None = None
    expires_at: datetime | None = None
    size_bytes: int | None = None
    rows: dict[str, int] | None = None
    download_url: str | None = None
    download_url_expires_at: datetime | None = None


class ExportJobList(ApiModel):
    """A person's newest full exports, newest first (at most `EXPORTS_LISTED`); a download
    URL is handed out only by the export's own GET, so each is audited."""

    items: list[ExportJob]
