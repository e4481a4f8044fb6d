"""SQL for the `users` table."""

from __future__ import annotations

from psycopg import AsyncConnection


async def upsert_user(conn: AsyncConnection, user_id: str, name: str, roles: list[str]) -> None:
    await conn.execute(
        """INSERT INTO users (id, name, roles) VALUES (%s, %s, %s)
           ON CONFLICT (id) DO UPDATE
             SET name = CASE WHEN EXCLUDED.name <> '' THEN EXCLUDED.name ELSE users.name END,
                 updated_at = now()
           WHERE users.name IS DISTINCT FROM EXCLUDED.name AND EXCLUDED.name <> ''""",
        (user_id, name, roles),
    )


async def get_user(conn: AsyncConnection, user_id: str) -> dict | None:
    cur = await conn.execute("SELECT id, name, email, roles, created_at FROM users WHERE id = %s", (user_id,))
    return await cur.fetchone()


async def set_roles(conn: AsyncConnection, user_id: str, roles: list[str]) -> dict | None:
    cur = await conn.execute(
        "UPDATE users SET roles = %s, updated_at = now() WHERE id = %s RETURNING id, name, roles",
        (roles, user_id),
    )
    return await cur.fetchone()
