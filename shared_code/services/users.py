"""Users as the platform knows them: a row per token subject, created on first write."""

from __future__ import annotations

from shared_code.adapters.postgres import users as users_sql
from shared_code.auth import Principal
from shared_code.context import AppContext

# Subjects already known to exist in this process; saves a write per request.
_known: set[str] = set()


async def ensure_user(ctx: AppContext, principal: Principal) -> None:
    """Makes sure the caller has a row, so foreign keys to users hold."""
    if principal.user_id in _known:
        return
    async with ctx.db.connection() as conn:
        await users_sql.upsert_user(conn, principal.user_id, principal.name, sorted(principal.roles))
    _known.add(principal.user_id)
