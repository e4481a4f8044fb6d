"""SQL for the `users` table."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from shared_code.adapters.postgres.pool import Conn
from shared_code.adapters.postgres.rows import columns, fetch_all, fetch_one
from shared_code.auth import ROLES, Account


@dataclass(frozen=True)
class UserRow:
    """A `users` row as the profile, the admin tools and privacy read it."""

    id: uuid.UUID
    name: str | None
    email: str | None
    roles: list[str] | None
    created_at: datetime
    updated_at: datetime
    erased_at: datetime | None


@dataclass(frozen=True)
class AccountRow:
    """The columns an `Account` (who may do what) is made from."""

    id: uuid.UUID
    name: str | None
    roles: list[str] | None
    erased_at: datetime | None


ACCOUNT = columns(AccountRow)


def _account(row: AccountRow) -> Account:
    return Account(
        user_id=str(row.id), name=row.name or "", roles=frozenset(r for r in row.roles or [] if r in ROLES),
        erased=row.erased_at is not None,
    )


async def upsert_user(conn: Conn, user_id: str, name: str, roles: list[str]) -> None:
    """Creates the row, or refreshes the name of an existing one; never changes stored roles,
    and never gives an erased account its name back."""
    await conn.execute(
        """INSERT INTO users (id, name, roles) VALUES (%s, %s, %s)
           ON CONFLICT (id) DO UPDATE
             SET name = CASE WHEN EXCLUDED.name <> '' THEN EXCLUDED.name ELSE users.name END,
                 updated_at = now()
           WHERE users.name IS DISTINCT FROM EXCLUDED.name AND EXCLUDED.name <> ''
             AND users.erased_at IS NULL""",
        (user_id, name, roles),
    )


async def get_user(conn: Conn, user_id: str, *, for_update: bool = False) -> UserRow | None:
    """`for_update` holds the row until the transaction ends, so two role changes made at
    once each audit the roles the other left."""
    lock = " FOR UPDATE" if for_update else ""
    return await fetch_one(conn, UserRow, f"SELECT {columns(UserRow)} FROM users WHERE id = %s{lock}", (user_id,))


async def get_account(conn: Conn, user_id: str) -> Account | None:
    row = await fetch_one(conn, AccountRow, f"SELECT {ACCOUNT} FROM users WHERE id = %s", (user_id,))
    return _account(row) if row else None


async def get_accounts(conn: Conn, user_ids: list[uuid.UUID]) -> list[Account]:
    """The accounts of several users in one statement (those that have a row)."""
    rows = await fetch_all(conn, AccountRow, f"SELECT {ACCOUNT} FROM users WHERE id = ANY(%s)", (user_ids,))
    return [_account(row) for row in rows]


async def create_account(conn: Conn, user_id: str, name: str, roles: list[str]) -> Account:
    """The account of a first sign-in, or the one a concurrent first request just made."""
    row = await fetch_one(
        conn, AccountRow,
        f"""INSERT INTO users (id, name, roles) VALUES (%s, %s, %s)
           ON CONFLICT (id) DO NOTHING
           RETURNING {ACCOUNT}""",
        (user_id, name, roles),
    )
    if row is None:
        # Another request created it first (it committed, or the insert would have waited),
        # or the account exists and was erased.
        row = await fetch_one(conn, AccountRow, f"SELECT {ACCOUNT} FROM users WHERE id = %s", (user_id,))
        assert row is not None  # the insert that conflicted committed the row
    return _account(row)


async def set_roles(conn: Conn, user_id: str, roles: list[str]) -> AccountRow | None:
    """None for an unknown or erased account: an erased one stays without roles."""
    return await fetch_one(
        conn, AccountRow,
        f"UPDATE users SET roles = %s, updated_at = now() WHERE id = %s AND erased_at IS NULL RETURNING {ACCOUNT}",
        (roles, user_id),
    )


async def erase(conn: Conn, user_id: str, placeholder_name: str) -> bool:
    """Removes the account's personal fields and its roles, keeping the row (and its id) for
    the rows that must stay. True when this call erased it, False when it already was."""
    cur = await conn.execute(
        """UPDATE users SET name = %s, email = NULL, roles = '{}', erased_at = now(), updated_at = now()
           WHERE id = %s AND erased_at IS NULL""",
        (placeholder_name, user_id),
    )
    return cur.rowcount > 0


async def erased_names(conn: Conn, user_ids: list[str]) -> dict[str, str]:
    """Of `user_ids`, those erased, with the name their erasure left."""
    cur = await conn.execute(
        "SELECT id, name FROM users WHERE id = ANY(%s::uuid[]) AND erased_at IS NOT NULL", (user_ids,)
    )
    return {str(row["id"]): str(row["name"]) for row in await cur.fetchall()}
