"""The privacy sections of hot state: Redis copies of the user's name and words, their
heartbeats not yet flushed, and their open Web PubSub connections. Only the heartbeats
are exported: every other entry is a copy of what a PostgreSQL section exports (or, for
connections, nothing kept at all)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from shared_code.adapters.redis import accounts as accounts_cache
from shared_code.adapters.redis import privacy as privacy_cache
from shared_code.auth import Account
from shared_code.context import AppContext
from shared_code.services.privacy.sections import ERASED_NAME, ERASED_TEXT, Subject


async def erase_account_cache(ctx: AppContext, subject: Subject) -> int:
    """Every instance reads the account from here first: it must say "erased" at once, not
    when the old entry expires. A failure fails the erasure (to be repeated), unlike a
    role change, whose stale window the entry's expiry bounds."""
    account = Account(user_id=subject.user_id, name=ERASED_NAME, roles=frozenset(), erased=True)
    await accounts_cache.replace(ctx.redis, account, ctx.settings.roles_cache_seconds)
    return 1


async def close_connections(ctx: AppContext, subject: Subject) -> int:
    """Open live connections were admitted with the name and roles of then; the connect
    event of any new one refuses the erased account."""
    await ctx.pubsub.close_user_connections(subject.user_id, reason="This account was erased.")
    return 0


async def erase_live_state(ctx: AppContext, subject: Subject) -> int:
    changed = 0
    for class_id in subject.class_ids:
        changed += await privacy_cache.scrub_class(ctx.redis, class_id, subject.user_id, ERASED_NAME, ERASED_TEXT)
    return changed


async def erase_board_names(ctx: AppContext, subject: Subject) -> int:
    changed = 0
    for course_id in subject.course_ids:
        changed += await privacy_cache.scrub_board(ctx.redis, course_id, subject.user_id, ERASED_NAME)
    return changed


async def erase_dashboard(ctx: AppContext, subject: Subject) -> int:
    return await privacy_cache.forget_dashboard(ctx.redis, subject.user_id)


async def export_pending_progress(ctx: AppContext, subject: Subject, limit: int | None) -> AsyncIterator[dict[str, Any]]:
    """Heartbeats the write-behind flush has not written to PostgreSQL yet (seconds old;
    a few per lesson being watched, so they are read at once)."""
    for row in await privacy_cache.pending_progress(ctx.redis, subject.user_id, limit):
        yield row
