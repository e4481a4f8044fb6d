"""SQL for the `users` table."""

from __future__ import annotations

from typing import Any

from shared_code.adapters.postgres.pool import Conn, Row
from shared_code.auth import ROLES, Account


def _account(row: dict[str, Any]) -> Account:
    return Account(
        user_id=str(row["id"]), name=row["name"] or "", roles=frozenset(r for r in row["roles"] or [] if r in ROLES)
    )


async def upsert_user(conn: Conn, user_id: str, name: str, roles: list[str]) -> None:
    """Creates the row, or refreshes the name of an existing one; never changes stored roles."""
    await conn.execute(
        """INSERT INTO users (id, name, roles) VALUES (%s, %s, %s)
           ON CONFLICT (id) DO UPDATE
             SET name = CASE WHEN EXCLUDED.name <> '' THEN EXCLUDED.name ELSE users.name END,
                 updated_at = now()
           WHERE users.name IS DISTINCT FROM EXCLUDED.name AND EXCLUDED.name <> ''""",
        (user_id, name, roles),
    )


async def get_user(conn: Conn, user_id: str, *, for_update: bool = False) -> Row | None:
    """`for_update` holds the row until the transaction ends, so two role changes made at
    once each audit the roles the other left."""
    lock = " FOR UPDATE" if for_update else ""
    cur = await conn.execute(f"SELECT id, name, email, roles, created_at FROM users WHERE id = %s{lock}", (user_id,))
    return await cur.fetchone()


async def get_account(conn: Conn, user_id: str) -> Account | None:
    cur = await conn.execute("SELECT id, name, roles FROM users WHERE id = %s", (user_id,))
    row = await cur.fetchone()
    return _account(row) if row else None


async def create_account(conn: Conn, user_id: str, name: str, roles: list[str]) -> Account:
    """The account of a first sign-in, or the one a concurrent first request just made."""
    cur = await conn.execute(
        """INSERT INTO users (id, name, roles) VALUES (%s, %s, %s)
           ON CONFLICT (id) DO NOTHING
           RETURNING id, name, roles""",
        (user_id, name, roles),
    )
    row = await cur.fetchone()
    if row is None:
        # Another request created it first (it committed, or the insert would have waited).
        cur = await conn.execute("SELECT id, name, roles FROM users WHERE id = %s", (user_id,))
        row = await cur.fetchone()
        assert row is not None  # the insert that conflicted committed the row
    return _account(row)


async def set_roles(conn: Conn, user_id: str, roles: list[str]) -> Row | None:
    cur = await conn.execute(
        "UPDATE users SET roles = %s, updated_at = now() WHERE id = %s RETURNING id, name, roles",
        (roles, user_id),
    )
    return await cur.fetchone()
