"""Users as the platform knows them, and the one answer to "what may this user do".

Roles have one source of truth: the users table, where admins set them
(`PUT /api/admin/users/{id}/roles`). HTTP requests (`authenticate`) and live connections
(the Web PubSub connect event) both ask `stored_account` here, so they always agree.

- **Cost.** Every authenticated request asks, so the answer is cached in Redis for
  `LECTERN_ROLES_CACHE_SECONDS` (at most 60): one GET when warm. There is no in-process
  copy on top: an instance cannot hear another instance's invalidation, and a demotion
  must take effect on every instance at once, not when a local copy ages out.
- **Change.** A role change writes the new roles into the cache right after the row
  commits, so the next request anywhere sees them. Should that write fail (Redis down),
  the expiry still bounds the stale window.
- **A storm of cold callers.** A thousand students joining a class at once mostly miss the
  cache (it holds an account only seconds): their misses that arrive together are read in
  one statement and put back in one pipeline (`ctx.account_loads`, `load_accounts`), not a
  query and a write each.
- **Redis down.** The table answers (one indexed read). A token's claim is never a
  fallback: without an answer from either store the request fails with a 503.
- **How rows come to exist.** A user's row is made the first time the platform sees their
  subject: by `POST /api/dev/token` in development, and by the first authenticated request
  of a sign-in from the issuer (any request, read or write). A first sign-in is seeded with
  the roles its token carries, the issuer's assignment at sign-up (a token without a
  `roles` claim makes a student). From then on only admins change them; later tokens can
  only narrow the stored roles, never widen them.
- **Erasure.** An erased account (`services/privacy`) keeps its row without name or roles;
  `authorize` refuses its tokens (401) and `stored_principal` refuses its live connects,
  whatever the token still says.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shared_code.adapters.postgres import users as users_sql
from shared_code.adapters.postgres.pool import Database
from shared_code.adapters.redis import accounts as accounts_cache
from shared_code.auth import Account, Principal
from shared_code.concurrency import quiet
from shared_code.context import AppContext
from shared_code.errors import Unauthorized

logger = logging.getLogger("lectern.users")

DEFAULT_ROLES = ("student",)


async def ensure_user(ctx: AppContext, principal: Principal) -> None:
    """Makes sure the caller has a row, so foreign keys to users hold (and keeps its name
    current). Never changes stored roles: only admins do."""
    if principal.user_id in ctx.known_users:
        return
    async with ctx.db.connection() as conn:
        await users_sql.upsert_user(conn, principal.user_id, principal.name, sorted(principal.roles))
    ctx.known_users.add(principal.user_id)


async def _from_table(ctx: AppContext, user_id: str) -> Account | None:
    async with ctx.db.connection() as conn:
        return await users_sql.get_account(conn, user_id)


async def load_accounts(
    db: Database, r: aioredis.Redis, ttl_seconds: int, user_ids: list[str]
) -> list[Account | None | Exception]:
    """What `ctx.account_loads` sends: the cache misses of concurrent requests, read from the
    table in one statement and cached in one pipeline (best effort: an account the cache
    did not take is read from the table again next time). A subject that is not a UUID
    answers its own caller with the error, never the batch's other callers."""
    wanted: dict[str, uuid.UUID | ValueError] = {}
    for user_id in user_ids:
        try:
            wanted[user_id] = uuid.UUID(user_id)
        except ValueError as exc:
            wanted[user_id] = exc
    ids = [v for v in wanted.values() if isinstance(v, uuid.UUID)]
    found: dict[str, Account] = {}  # by the canonical text of the id, as `Account` holds it
    if ids:
        async with db.connection() as conn:
            found = {a.user_id: a for a in await users_sql.get_accounts(conn, ids)}
        try:
            await accounts_cache.fill(r, list(found.values()), ttl_seconds)
        except RedisError:
            pass  # the next request reads the table again
    return [v if isinstance(v, ValueError) else found.get(str(v)) for v in (wanted[u] for u in user_ids)]


def start_reading(ctx: AppContext, user_id: str) -> asyncio.Future[list[str | None]]:
    """Sends the cached account's read now, so it shares the round trip of what the request
    starts beside it; `stored_account(..., pending=)` / `authorize(..., pending=)` take it."""
    return quiet(accounts_cache.start(ctx.account_reads, user_id))


async def stored_account(
    ctx: AppContext, user_id: str, *, pending: asyncio.Future[list[str | None]] | None = None
) -> Account | None:
    """The user's stored name and roles (cache, then table); None when there is no row."""
    try:
        if pending is None:
            pending = accounts_cache.start(ctx.account_reads, user_id)
        cached = accounts_cache.decoded(user_id, await pending)
    except RedisError as exc:
        logger.warning("roles from PostgreSQL, Redis unavailable: %s", type(exc).__name__)
        return await _from_table(ctx, user_id)
    if cached is not None:
        return cached
    return await ctx.account_loads.submit(user_id)


async def stored_principal(ctx: AppContext, user_id: str) -> Principal | None:
    """The stored user as a caller, for paths that carry no token of ours (live connects)."""
    account = await stored_account(ctx, user_id)
    return Principal.of_account(account) if account is not None and not account.erased else None


async def authorize(
    ctx: AppContext, claimed: Principal, *, pending: asyncio.Future[list[str | None]] | None = None
) -> Principal:
    """The caller of a verified token, with the roles their stored account grants (narrowed
    by the token's own claim). A subject seen for the first time gets its row here.
    `pending` is the cached account's read, when `start_reading` already sent it."""
    account = await stored_account(ctx, claimed.user_id, pending=pending)
    if account is None:
        roles = sorted(claimed.roles) if claimed.roles_claimed else list(DEFAULT_ROLES)
        async with ctx.db.connection() as conn:
            account = await users_sql.create_account(conn, claimed.user_id, claimed.name, roles)
        ctx.known_users.add(claimed.user_id)
        logger.info("user created on first sign-in", extra={"userId": claimed.user_id, "roles": roles})
    if account.erased:
        raise Unauthorized("This account was erased.")
    return claimed.narrowed_to(account)


async def roles_changed(ctx: AppContext, account: Account) -> None:
    """Puts the roles just stored into the cache, so every instance applies them at once
    (an erasure too: the cached account then says it is erased)."""
    try:
        await accounts_cache.replace(ctx.redis, account, ctx.settings.roles_cache_seconds)
    except RedisError as exc:
        # The entry (if any) still expires within the cache bound.
        logger.warning("roles cache not updated, Redis unavailable: %s", type(exc).__name__)
