"""A student whose only connection was lost (its `disconnected` never came) and who never
comes back: the presence sweep (the timer `sweep_live_presence`) lets them go, and the class
hears the head count drop. Connections Web PubSub still has stay, however old, and so does
a lost one too young to judge. Real WebSockets, the local Web PubSub service, the host;
the sweep runs in this process against the same stores, as the timer would."""

from __future__ import annotations

import time
import uuid

import pytest
import redis.asyncio as aioredis

from shared_code.adapters.redis import keys
from shared_code.adapters.redis import live_admission as admission_redis
from shared_code.adapters.redis import live_presence as presence_redis
from shared_code.bootstrap import build_context
from shared_code.services.live import presence_sweep
from shared_code.settings import Settings
from tests.support.live import enrolled_students, join, live_class, new_session

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def ctx(stack):
    context = await build_context(Settings())
    yield context
    await context.close()


@pytest.fixture
async def redis(stack):
    client = aioredis.from_url(stack.redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def _lost(redis, class_id: str, user_id: str, *, age_ms: int) -> str:
    """A connection admitted and present `age_ms` ago that Web PubSub does not have."""
    ghost = f"lost-{uuid.uuid4().hex}"
    at = int(time.time() * 1000) - age_ms
    assert (await admission_redis.admit(redis, class_id, user_id, ghost, per_user=5, per_class=100, now_ms=at)).admitted
    await presence_redis.join(redis, class_id, ghost, user_id, "Lost")
    return ghost


async def test_a_student_lost_with_their_only_connection_is_let_go_and_the_class_hears_it(api, actor, redis, ctx):
    tutor = await actor("tutor")
    course, klass = await live_class(api, tutor)
    class_id = klass["id"]
    gone_student, staying, newcomer = await enrolled_students(api, actor, course["id"], 3)
    session = new_session()
    try:
        teacher = await join(api, session, tutor, class_id)
        real = await join(api, session, staying, class_id)
        # The staying student's real connection looks as old as the lost one: age alone lets no one go.
        await teacher.wait_for(lambda m: m["type"] == "presence.updated" and m["count"] == 2)
        for connection_id in await redis.zrange(keys.live_admitted(class_id), 0, -1):
            await redis.zadd(keys.live_admitted(class_id), {connection_id: int(time.time() * 1000) - 600_000})
        lost = await _lost(redis, class_id, gone_student.user_id, age_ms=180_000)
        young = await _lost(redis, class_id, newcomer.user_id, age_ms=1_000)
        present = await redis.hgetall(keys.live_present(class_id))
        assert gone_student.user_id in present and newcomer.user_id in present

        let_go = await presence_sweep.sweep_class(ctx, class_id)

        assert let_go == [lost]
        present = await redis.hgetall(keys.live_present(class_id))
        assert gone_student.user_id not in present
        assert staying.user_id in present and tutor.user_id in present
        # Too young to judge: its `disconnected` may still be on its way.
        assert newcomer.user_id in present and young in await redis.zrange(keys.live_admitted(class_id), 0, -1)
        # Out of the caps, the class's and the student's own.
        assert lost not in await redis.zrange(keys.live_admitted(class_id), 0, -1)
        assert await redis.zrange(keys.live_admitted_user(class_id, gone_student.user_id), 0, -1) == []
        # The class hears the head count without them (the tutor, the staying student, the newcomer).
        await teacher.wait_for(lambda m: m["type"] == "presence.updated" and m["count"] == 3)
        # A second sweep finds nothing more, and the real connections still work.
        assert await presence_sweep.sweep_class(ctx, class_id) == []
        assert (await real.send("raiseHand", {})).ok
        await real.close()
        await teacher.close()
    finally:
        await session.close()


async def test_the_timer_sweeps_every_live_class(api, actor, redis, ctx):
    tutor = await actor("tutor")
    course, klass = await live_class(api, tutor)
    [student] = await enrolled_students(api, actor, course["id"], 1)
    await _lost(redis, klass["id"], student.user_id, age_ms=180_000)
    assert await presence_sweep.sweep_live_classes(ctx) >= 1
    assert student.user_id not in await redis.hgetall(keys.live_present(klass["id"]))


async def test_the_timer_reaches_classes_past_its_first_page(api, actor, redis, ctx):
    """However many classes run, each is swept: the timer walks them a page at a time (here a
    page of one), so a class past the first page is not left out run after run."""
    tutor = await actor("tutor")
    lost: dict[str, str] = {}
    for _ in range(3):
        course, klass = await live_class(api, tutor)
        [student] = await enrolled_students(api, actor, course["id"], 1)
        await _lost(redis, klass["id"], student.user_id, age_ms=180_000)
        lost[klass["id"]] = student.user_id
    assert await presence_sweep.sweep_live_classes(ctx, page_size=1) >= 3
    for class_id, user_id in lost.items():
        assert user_id not in await redis.hgetall(keys.live_present(class_id))


IDLE_MS = 60 * 60_000  # the default `live_idle_end_minutes`


async def _status(api, who, class_id: str) -> str:
    response = await api.get(f"/classes/{class_id}", headers={"Authorization": f"Bearer {who.token}"})
    assert response.status_code == 200, response.text
    return response.json()["status"]


async def test_a_class_nobody_has_been_in_for_the_idle_limit_is_ended_and_its_tutor_keeps_the_record(api, actor, ctx):
    tutor = await actor("tutor")
    _, klass = await live_class(api, tutor)
    class_id = klass["id"]
    now = int(time.time() * 1000)

    # The first sweep to find it empty starts the clock; a minute short of the limit, it runs on.
    assert await presence_sweep.end_if_idle(ctx, class_id, now_ms=now) is False
    assert await presence_sweep.end_if_idle(ctx, class_id, now_ms=now + IDLE_MS - 60_000) is False
    assert await _status(api, tutor, class_id) == "live"

    assert await presence_sweep.end_if_idle(ctx, class_id, now_ms=now + IDLE_MS) is True
    assert await _status(api, tutor, class_id) == "ended"
    # Ended once: the next sweep finds nothing to do, and the tutor cannot start it again.
    assert await presence_sweep.end_if_idle(ctx, class_id, now_ms=now + 2 * IDLE_MS) is False
    started = await api.post(f"/classes/{class_id}/start", headers={"Authorization": f"Bearer {tutor.token}"})
    assert started.status_code == 422, started.text


async def test_a_class_with_anyone_in_it_is_never_ended_and_the_clock_restarts_when_they_leave(api, actor, redis, ctx):
    tutor = await actor("tutor")
    _, klass = await live_class(api, tutor)
    class_id = klass["id"]
    now = int(time.time() * 1000)
    assert await presence_sweep.end_if_idle(ctx, class_id, now_ms=now) is False  # empty: the clock starts

    # The tutor waits alone in the class for hours: someone is in it.
    waiting = f"tutor-{uuid.uuid4().hex}"
    await presence_redis.join(redis, class_id, waiting, tutor.user_id, tutor.name)
    assert await presence_sweep.end_if_idle(ctx, class_id, now_ms=now + 3 * IDLE_MS) is False
    assert await _status(api, tutor, class_id) == "live"

    # They leave: the clock starts again from the first sweep that finds it empty.
    await presence_redis.leave(redis, class_id, waiting)
    later = now + 4 * IDLE_MS
    assert await presence_sweep.end_if_idle(ctx, class_id, now_ms=later) is False
    assert await presence_sweep.end_if_idle(ctx, class_id, now_ms=later + IDLE_MS - 60_000) is False
    assert await _status(api, tutor, class_id) == "live"
    assert await presence_sweep.end_if_idle(ctx, class_id, now_ms=later + IDLE_MS) is True


async def test_an_idle_limit_of_zero_never_ends_a_class(api, actor, ctx):
    tutor = await actor("tutor")
    _, klass = await live_class(api, tutor)
    never = await build_context(Settings(live_idle_end_minutes=0))
    try:
        now = int(time.time() * 1000)
        assert await presence_sweep.end_if_idle(never, klass["id"], now_ms=now) is False
        assert await presence_sweep.end_if_idle(never, klass["id"], now_ms=now + 100 * IDLE_MS) is False
    finally:
        await never.close()
    assert await _status(api, tutor, klass["id"]) == "live"
