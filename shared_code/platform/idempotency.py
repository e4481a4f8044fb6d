"""Idempotent writes: a repeat with the same key and body returns the first response; the
same key with another body is a 409. The key and the write commit in one transaction, so a
crash between them cannot leave one without the other."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from shared_code.adapters.postgres import idempotency as sql
from shared_code.adapters.postgres.idempotency import StoredKey
from shared_code.adapters.postgres.pool import Conn
from shared_code.context import AppContext
from shared_code.errors import BadRequest, Conflict

MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Outcome:
    status: int
    body: Any
    replayed: bool


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def check_key(key: str | None, *, required: bool) -> str | None:
    if key is None or key == "":
        if required:
            raise BadRequest("This write needs an 'Idempotency-Key' header.")
        return None
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise BadRequest(f"'Idempotency-Key' must be printable and at most {MAX_KEY_LENGTH} characters.")
    return key


def replay(previous: StoredKey | None, digest: str) -> Outcome:
    """The stored answer to a key already claimed: 409 when it came with another body or its
    first request is still running. Also for services that read the key in a statement of
    their own (quiz attempts)."""
    if previous is None or previous.request_hash != digest:
        raise Conflict("This Idempotency-Key was already used with a different request body.")
    if previous.status_code is None:
        raise Conflict("A request with this Idempotency-Key is still being processed.")
    return Outcome(previous.status_code, previous.response, replayed=True)


async def run_once(
    ctx: AppContext,
    *,
    user_id: str,
    scope: str,
    key: str | None,
    body: Any,
    action: Callable[[Conn], Awaitable[tuple[int, Any]]],
) -> Outcome:
    """Runs `action(conn)` inside a transaction at most once per (user, scope, key).

    Without a key the action simply runs in a transaction.
    """
    digest = request_hash(body)
    async with ctx.db.transaction() as conn:
        if key is None:
            status, result = await action(conn)
            return Outcome(status, result, replayed=False)
        if not await sql.claim(conn, user_id, scope, key, digest):
            return replay(await sql.stored(conn, user_id, scope, key), digest)
        status, result = await action(conn)
        await sql.remember(conn, user_id, scope, key, status, result)
        return Outcome(status, result, replayed=False)


async def replay_or_claim(ctx: AppContext, *, user_id: str, scope: str, key: str, body: Any) -> Outcome | None:
    """For writes that are not one transaction: the stored outcome of an earlier call with
    this key, or None when this call now owns the key and must `settle` it."""
    digest = request_hash(body)
    async with ctx.db.connection() as conn:
        if await sql.claim(conn, user_id, scope, key, digest):
            return None
        previous = await sql.stored(conn, user_id, scope, key)
    return replay(previous, digest)


async def settle(ctx: AppContext, *, user_id: str, scope: str, key: str, status: int | None, response: Any) -> None:
    """Stores the outcome (a 2xx/4xx answer), or releases the key after a failure."""
    async with ctx.db.connection() as conn:
        if status is None or status >= 500:
            await sql.release(conn, user_id, scope, key)
        else:
            await sql.remember(conn, user_id, scope, key, status, response)
