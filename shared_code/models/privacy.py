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
