"""The short-lived Redis copy of each user's stored roles (the users table is the truth).

Every authenticated request reads it, so a warm read is one key in a batched read. Entries expire after a
few seconds (at most 60), which bounds how long any copy can be stale. A refill from
PostgreSQL is written with NX and a role change overwrites: a refill that read the old
row just before the change can then never replace the new value the change wrote.
"""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as aioredis

from shared_code.adapters.redis import keys
from shared_code.auth import ROLES, Account
from shared_code.concurrency import ReadBatcher


def _encode(account: Account) -> str:
    value: dict[str, object] = {"n": account.name, "r": sorted(account.roles)}
    if account.erased:
        value["e"] = 1
    return json.dumps(value, separators=(",", ":"))


def _decode(user_id: str, raw: str) -> Account | None:
    try:
        value = json.loads(raw)
        roles = frozenset(r for r in value["r"] if r in ROLES)
        return Account(user_id=user_id, name=str(value["n"]), roles=roles, erased=bool(value.get("e")))
    except (ValueError, KeyError, TypeError):
        return None  # unreadable: treated as a miss and refilled


def start(reads: ReadBatcher, user_id: str) -> asyncio.Future[list[str | None]]:
    """Sends the read at once, with whatever else the request starts in the same moment
    (its rate limits, its relation's cache entries); `decoded` reads the answer."""
    return reads.submit([keys.user_account(user_id)])


def decoded(user_id: str, reply: list[str | None]) -> Account | None:
    (raw,) = reply
    return _decode(user_id, str(raw)) if raw else None


async def fill(r: aioredis.Redis, accounts: list[Account], ttl_seconds: int) -> None:
    """Caches what PostgreSQL answered (the accounts one batched load read, in one pipelined
    round trip), each unless a newer value is already there."""
    if not accounts:
        return
    async with r.pipeline(transaction=False) as pipe:
        for account in accounts:
            pipe.set(keys.user_account(account.user_id), _encode(account), ex=ttl_seconds, nx=True)
        await pipe.execute()


async def replace(r: aioredis.Redis, account: Account, ttl_seconds: int) -> None:
    """Caches the account as a role change just stored it, over whatever was there."""
    await r.set(keys.user_account(account.user_id), _encode(account), ex=ttl_seconds)


async def forget(r: aioredis.Redis, user_id: str) -> None:
    await r.delete(keys.user_account(user_id))
