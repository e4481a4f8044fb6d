"""A user's export and erasure, run over the registry of sections (`registry.py`).

- **Bounded export.** The document is built in memory and sent whole (the Functions HTTP
  binding has no streamed body here), so each section holds at most
  `LECTERN_PRIVACY_EXPORT_ROWS` rows, newest first, and says `truncated` when it held more;
  sections are read one after another, so one export holds one query's rows in flight at a
  time, and exports are rate-limited per caller (`functions/privacy.py`). A person with
  more rows than that asks for a full export (`export_job.py`), built off the request into
  one file.
- **Erasure.** Synchronous (204 when done): the account first (its tokens are refused from
  that commit on), then every other section in registry order. A section that fails does
  not stop the others; the erasure then answers 503 and a repeated DELETE runs every
  section again, each of which only changes what is not erased yet (idempotent).
- **Audit.** Both are audited as `user.export` / `user.erase` on `user:<id>`, with section
  names and counts only. A person erasing themselves is recorded under the erased name, so
  the row that says an erasure happened does not keep what it erased.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from shared_code.adapters.postgres import users as users_sql
from shared_code.adapters.postgres.users import UserRow
from shared_code.auth import Principal
from shared_code.context import AppContext
from shared_code.errors import NotFound, ServiceUnavailable
from shared_code.models.privacy import ExportSection, PrivacyExport
from shared_code.platform import audit
from shared_code.services.privacy.postgres_sections import subject_of
from shared_code.services.privacy.registry import SECTIONS
from shared_code.services.privacy.sections import ERASED_NAME, Section, Subject

logger = logging.getLogger("lectern.privacy")


async def require_user(ctx: AppContext, user_id: str) -> UserRow:
    async with ctx.db.connection() as conn:
        row = await users_sql.get_user(conn, user_id)
    if row is None:
        raise NotFound("No such user.")
    return row


def _partitions_limit(ctx: AppContext) -> int:
    return ctx.settings.privacy_partitions_max


async def export_user(ctx: AppContext, actor: Principal, user_id: str) -> PrivacyExport:
    await require_user(ctx, user_id)
    subject = await subject_of(ctx, user_id, _partitions_limit(ctx))
    cap = ctx.settings.privacy_export_rows
    sections: dict[str, ExportSection] = {}
    for section in SECTIONS:
        if section.export is None:
            continue
        rows = [row async for row in section.export(ctx, subject, cap + 1)]
        sections[section.name] = ExportSection(store=section.store, items=rows[:cap], truncated=len(rows) > cap)
    await audit.record(ctx, actor, "user.export", f"user:{user_id}",
                       {"self": actor.user_id == user_id,
                        "rows": {name: len(s.items) for name, s in sections.items()}})
    return PrivacyExport(user_id=user_id, exported_at=datetime.now(UTC), rows_per_section=cap, sections=sections)


async def _erase_section(ctx: AppContext, section: Section, subject: Subject) -> int | None:
    assert section.erase is not None
    try:
        return await section.erase(ctx, subject)
    except Exception as exc:  # noqa: BLE001 - the other sections still run; a repeat finishes this one
        logger.warning("privacy section %s not erased: %s", section.name, type(exc).__name__,
                       extra={"userId": subject.user_id})
        return None


async def erase_user(ctx: AppContext, actor: Principal, user_id: str) -> None:
    before = await require_user(ctx, user_id)
    subject = await subject_of(ctx, user_id, _partitions_limit(ctx))
    changed: dict[str, int] = {}
    failed: list[str] = []
    for section in SECTIONS:
        if section.erase is None:
            continue
        count = await _erase_section(ctx, section, subject)
        if count is None:
            failed.append(section.name)
            if section is SECTIONS[0]:
                break  # the account is not erased: leave everything else as it is
        else:
            changed[section.name] = count
    # Recorded as the erased name when the user erases themselves: the audit row keeps no
    # more of them than the erasure left.
    recorder = Principal(user_id=actor.user_id, name=ERASED_NAME, roles=actor.roles) if actor.user_id == user_id else actor
    await audit.record(ctx, recorder, "user.erase", f"user:{user_id}",
                       {"self": actor.user_id == user_id, "repeat": before.erased_at is not None,
                        "changed": changed, "failed": failed})
    logger.info("user erased", extra={"userId": user_id, "failed": failed})
    if failed:
        raise ServiceUnavailable(
            f"The erasure is not complete ({', '.join(failed)}); send the same request again.", retry_after=5
        )
