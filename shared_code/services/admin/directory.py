"""The admin's user directory: search by a part of the name or email, filter by role,
newest first, paged by (created_at, id) so a page never shifts while users sign up."""

from __future__ import annotations

from shared_code.adapters.postgres import admin as admin_sql
from shared_code.context import AppContext
from shared_code.models.admin import AdminUser, AdminUserPage, UserQuery
from shared_code.services.content.paging import position_of, split_page


async def search_users(ctx: AppContext, q: UserQuery) -> AdminUserPage:
    after = position_of(q.cursor)
    async with ctx.db.connection() as conn:
        rows = await admin_sql.search_users(conn, q=q.q, role=q.role, after=after, limit=q.limit + 1)
    page, next_cursor = split_page(rows, q.limit, "created_at")
    return AdminUserPage(
        items=[AdminUser(id=r["id"], name=r["name"] or "", email=r["email"], roles=sorted(r["roles"] or []),
                         created_at=r["created_at"]) for r in page],
        next_cursor=next_cursor,
    )
