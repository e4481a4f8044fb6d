"""Roles come from the users table, not from the token: an admin's change applies to the
user's next request and next live connection, and a token can only narrow what the
stored account grants, on HTTP and on the live connect path alike."""

from __future__ import annotations

import aiohttp
import pytest
import redis.asyncio as aioredis

from shared_code.adapters.redis import keys
from tests.support.actors import Actor
from tests.support.content import create_course
from tests.support.live import LiveClient, join, live_class, negotiate, new_session

pytestmark = pytest.mark.timeout(90)


async def _set_roles(api, admin: Actor, who: Actor, roles: list[str]) -> None:
    resp = await api.put(f"admin/users/{who.user_id}/roles", json={"roles": roles}, headers=admin.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["roles"] == sorted(roles)


async def _token_for(api, who: Actor, roles: list[str]) -> dict[str, str]:
    """A development token for an existing user claiming `roles` (the dev issuer signs any claim)."""
    resp = await api.post("dev/token", json={"userId": who.user_id, "name": who.name, "roles": roles})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['token']}"}


def _course() -> dict:
    return {"title": "Roles course", "description": "made to test roles"}


async def test_a_demoted_tutor_is_refused_tutor_actions_at_once(api, actor):
    tutor, admin = await actor("tutor"), await actor("admin")
    # The tutor's roles are now cached: only the invalidation on change can make the
    # demotion apply before the cache entry expires.
    assert (await api.post("courses", json=_course(), headers=tutor.headers)).status_code == 201

    await _set_roles(api, admin, tutor, ["student"])
    refused = await api.post("courses", json=_course(), headers=tutor.headers)
    assert refused.status_code == 403, refused.text
    # Still a signed-in user: what a student may do still works.
    assert (await api.get("courses", headers=tutor.headers)).status_code == 200

    await _set_roles(api, admin, tutor, ["student", "tutor"])
    assert (await api.post("courses", json=_course(), headers=tutor.headers)).status_code == 201


async def test_stored_roles_are_cached_for_at_most_a_minute(api, actor, stack):
    student = await actor("student")
    assert (await api.get("courses", headers=student.headers)).status_code == 200
    client = aioredis.Redis.from_url(stack.redis_url)
    try:
        ttl = await client.ttl(keys.user_account(student.user_id))
    finally:
        await client.aclose()
    assert 0 < ttl <= 60


async def test_a_token_claiming_admin_for_a_stored_student_gets_403(api, actor):
    student = await actor("student")
    claims_admin = await _token_for(api, student, ["admin"])
    assert (await api.get("admin/audit", headers=claims_admin)).status_code == 403
    assert (await api.put(f"admin/users/{student.user_id}/roles", json={"roles": ["admin"]},
                          headers=claims_admin)).status_code == 403
    assert (await api.post("courses", json=_course(), headers=await _token_for(api, student, ["tutor"]))).status_code == 403
    # The claim narrows nothing it may not: with "student" in it, student actions still work.
    both = await _token_for(api, student, ["student", "admin"])
    assert (await api.get("courses", headers=both)).status_code == 200
    assert (await api.get("admin/audit", headers=both)).status_code == 403


async def test_a_token_only_narrows_the_stored_roles(api, actor):
    admin, user = await actor("admin"), await actor("student")
    await _set_roles(api, admin, user, ["student", "tutor"])
    # The old token claims only "student": the promotion alone does not widen it.
    assert (await api.post("courses", json=_course(), headers=user.headers)).status_code == 403
    as_tutor = await _token_for(api, user, ["tutor"])
    assert (await api.post("courses", json=_course(), headers=as_tutor)).status_code == 201


async def test_a_demoted_tutor_is_refused_on_the_live_connect_path(api, actor):
    tutor, admin = await actor("tutor"), await actor("admin")
    _, klass = await live_class(api, tutor)
    first, second = await negotiate(api, tutor, klass["id"]), await negotiate(api, tutor, klass["id"])
    assert first.status_code == 200 and second.status_code == 200
    session = new_session()
    try:
        before = LiveClient(who=tutor, class_id=klass["id"], session=session)
        await before.connect(first.json()["url"])
        await before.close()

        await _set_roles(api, admin, tutor, ["student"])
        # A client URL negotiated while still a tutor: the connect event asks the same
        # stored roles HTTP does, and the demoted tutor is no longer the class's tutor.
        after = LiveClient(who=tutor, class_id=klass["id"], session=session)
        with pytest.raises((aiohttp.WSServerHandshakeError, ConnectionError)):
            await after.connect(second.json()["url"], timeout=10)
        await after.close()
        assert (await negotiate(api, tutor, klass["id"])).status_code in (403, 404)
    finally:
        await session.close()


async def test_a_course_owner_keeps_nothing_after_demotion(api, actor):
    tutor, admin = await actor("tutor"), await actor("admin")
    course = await create_course(api, tutor)
    await _set_roles(api, admin, tutor, ["student"])
    edit = await api.patch(f"courses/{course['id']}", json={"title": "Taken over"}, headers=tutor.headers)
    assert edit.status_code in (403, 404), edit.text


async def test_a_tutor_demoted_during_a_class_is_disconnected_and_cannot_rejoin(api, actor):
    tutor, admin = await actor("tutor"), await actor("admin")
    _, klass = await live_class(api, tutor)
    spare = await negotiate(api, tutor, klass["id"])
    session = new_session()
    try:
        live = await join(api, session, tutor, klass["id"])
        await _set_roles(api, admin, tutor, ["student"])
        await live.wait_closed(timeout=10)
        with pytest.raises((aiohttp.WSServerHandshakeError, ConnectionError)):
            await LiveClient(who=tutor, class_id=klass["id"], session=session).connect(spare.json()["url"], timeout=10)
    finally:
        await session.close()
