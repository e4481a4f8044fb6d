"""Stored roles and health reports, against the real stores.

Roles: the Redis copy serves warm reads, a role change overwrites it so that a refill which
read the old row cannot bring the old roles back, and with Redis gone the users table
answers, never the token. Health: however many callers ask at once, one check runs, and
its result serves until it is older than the bound.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from shared_code.adapters.postgres import users as users_sql
from shared_code.adapters.redis import accounts as accounts_cache
from shared_code.adapters.redis import keys
from shared_code.auth import Account, Principal
from shared_code.platform import users
from shared_code.services.admin import health

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def _stored(ctx, *roles: str) -> Account:
    user_id = str(uuid.uuid4())
    async with ctx.db.connection() as conn:
        return await users_sql.create_account(conn, user_id, "Stored user", sorted(roles))


def _claiming(account: Account, *roles: str) -> Principal:
    return Principal(user_id=account.user_id, name=account.name, roles=frozenset(roles))


async def test_a_first_sign_in_gets_a_row_with_the_roles_of_its_token(ctx):
    newcomer = Principal(user_id=str(uuid.uuid4()), name="Newcomer", roles=frozenset({"tutor"}))
    assert (await users.authorize(ctx, newcomer)).roles == {"tutor"}
    assert (await users.stored_account(ctx, newcomer.user_id)).roles == {"tutor"}
    silent = Principal(user_id=str(uuid.uuid4()), name="No claim", roles=frozenset(), roles_claimed=False)
    assert (await users.authorize(ctx, silent)).roles == {"student"}


async def test_a_refill_that_read_the_old_roles_cannot_undo_a_role_change(ctx):
    tutor = await _stored(ctx, "tutor")
    stale = await users.stored_account(ctx, tutor.user_id)  # read before the change
    await accounts_cache.forget(ctx.redis, tutor.user_id)
    async with ctx.db.connection() as conn:
        await users_sql.set_roles(conn, tutor.user_id, ["student"])
    demoted = Account(user_id=tutor.user_id, name=tutor.name, roles=frozenset({"student"}))
    await users.roles_changed(ctx, demoted)
    await accounts_cache.fill(ctx.redis, [stale], ctx.settings.roles_cache_seconds)  # the late refill
    assert (await users.authorize(ctx, _claiming(tutor, "tutor", "student"))).roles == {"student"}


async def test_accounts_loaded_together_answer_each_caller_with_its_own(ctx):
    """One batched load: a stored account, a subject with no row, the same subject twice,
    and a subject that is not a UUID, which fails only its own caller."""
    known = Principal(user_id=str(uuid.uuid4()), name="Ada", roles=frozenset({"tutor"}), roles_claimed=True)
    await users.authorize(ctx, known)
    unknown = str(uuid.uuid4())
    await ctx.redis.delete(keys.user_account(known.user_id))

    answers = await users.load_accounts(
        ctx.db, ctx.redis, ctx.settings.roles_cache_seconds, [known.user_id, unknown, "not-a-uuid", known.user_id]
    )
    first, missing, bad, again = answers
    assert isinstance(first, Account) and first.name == "Ada" and first.roles == frozenset({"tutor"})
    assert missing is None
    assert isinstance(bad, ValueError)
    assert again == first
    assert await ctx.redis.get(keys.user_account(known.user_id)), "the loaded account is cached again"
    assert not await ctx.redis.exists(keys.user_account(unknown))


async def test_cold_callers_at_once_each_get_their_own_roles(ctx):
    """Many first requests of different users in the same moment share one load, and each
    caller is judged by its own row."""
    people = [Principal(user_id=str(uuid.uuid4()), name=f"P{i}", roles=frozenset({"student", "tutor"} if i % 2 else {"student"}),
                        roles_claimed=True) for i in range(8)]
    for p in people:
        await users.authorize(ctx, p)
    await ctx.redis.delete(*(keys.user_account(p.user_id) for p in people))
    wide = [Principal(user_id=p.user_id, name=p.name, roles=frozenset({"student", "tutor", "admin"}), roles_claimed=True)
            for p in people]
    judged = await asyncio.gather(*(users.authorize(ctx, w) for w in wide))
    assert [j.roles for j in judged] == [p.roles for p in people]


async def test_with_redis_down_the_users_table_decides_and_the_token_never_widens(ctx, redis_server):
    student, tutor = await _stored(ctx, "student"), await _stored(ctx, "tutor")
    assert (await users.authorize(ctx, _claiming(tutor, "tutor"))).roles == {"tutor"}  # cached now
    redis_server.kill()
    assert (await users.authorize(ctx, _claiming(student, "admin", "student"))).roles == {"student"}
    async with ctx.db.connection() as conn:
        await users_sql.set_roles(conn, tutor.user_id, ["student"])
    await users.roles_changed(ctx, Account(user_id=tutor.user_id, name=tutor.name, roles=frozenset({"student"})))
    assert (await users.authorize(ctx, _claiming(tutor, "tutor"))).roles == frozenset()
    principal = await users.stored_principal(ctx, tutor.user_id)
    assert principal is not None and principal.roles == {"student"}


def _counting(ctx) -> dict[str, int]:
    """Counts the calls of each real probe (each still runs against its store)."""
    calls = {"postgres": 0, "webpubsub": 0}

    def wrap(name, probe):
        async def counted():
            calls[name] += 1
            return await probe()
        return counted

    ctx.db.ping = wrap("postgres", ctx.db.ping)
    ctx.pubsub.ping = wrap("webpubsub", ctx.pubsub.ping)
    return calls


async def test_many_health_requests_at_once_run_one_check(ctx):
    calls = _counting(ctx)
    monitor = health.HealthMonitor()
    reports = await asyncio.gather(*(monitor.report(ctx) for _ in range(50)))
    assert monitor.checks_run == 1 and calls == {"postgres": 1, "webpubsub": 1}
    assert len({id(r) for r in reports}) == 1 and reports[0].ok, reports[0].checks
    for _ in range(20):  # well within the bound: served from the same report
        assert await monitor.report(ctx) is reports[0]
    assert monitor.checks_run == 1 and calls["postgres"] == 1


async def test_a_report_older_than_the_bound_is_checked_again(ctx):
    calls = _counting(ctx)
    monitor = health.HealthMonitor(max_age=0)
    await monitor.report(ctx)
    await monitor.report(ctx)
    assert monitor.checks_run == 2 and calls["postgres"] == 2


async def test_a_caller_that_gives_up_does_not_cancel_the_check_others_wait_for(ctx):
    monitor = health.HealthMonitor()
    impatient = asyncio.ensure_future(monitor.report(ctx))
    patient = asyncio.ensure_future(monitor.report(ctx))
    await asyncio.sleep(0)
    impatient.cancel()
    report = await patient
    assert report.ok and monitor.checks_run == 1
