"""Rate limits through a real host of their own, started with low limits and its own
redis-server (the test profile's host keeps limits no test run reaches).

Writes and reads are limited per user and per address, each with its own budget (reads
far more generously in real settings); the address is the one the front end appends to
X-Forwarded-For, so a forged header does not buy a fresh budget. Development tokens and
joins (negotiate) have a stricter per-address budget. With Redis down, reads and writes
go through (fail open) while token issuing and joining are refused with a 503, and roles
still come from the users table, never from the token.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import redis

from tests.support.actors import Actor, new_actor
from tests.support.redis_server import RedisServer, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

LIMITS = {
    "LECTERN_RATE_WRITES_PER_MINUTE": "4",
    "LECTERN_RATE_WRITES_PER_IP_PER_MINUTE": "12",
    "LECTERN_RATE_TOKENS_PER_IP_PER_MINUTE": "3",
    "LECTERN_RATE_NEGOTIATE_PER_MINUTE": "30",
    "LECTERN_RATE_NEGOTIATE_PER_IP_PER_MINUTE": "2",
    "LECTERN_RATE_READS_PER_MINUTE": "6",
    "LECTERN_RATE_READS_PER_IP_PER_MINUTE": "15",
}


class LimitedHost:
    def __init__(self, base_url: str, redis_server: RedisServer) -> None:
        self.base_url = base_url
        self.redis = redis_server


@pytest.fixture(scope="module")
def limited_host(stack, test_stack, tmp_path_factory) -> Iterator[LimitedHost]:
    server = RedisServer()
    server.start()
    port = free_port()
    env = {**os.environ, **test_stack.env(), **LIMITS, "REDIS_URL": server.url}
    log = open(tmp_path_factory.mktemp("limited-host") / "host.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--app-dir", str(test_stack.repo), "--port", str(port),
         "--no-queues", "--no-timers"],
        cwd=test_stack.repo, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, "the limited host exited while starting"
            try:
                if httpx.get(f"{base}/system/noop", timeout=2).status_code == 204:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the limited host did not start"
            time.sleep(0.2)
        yield LimitedHost(base, server)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        server.kill()
        log.close()


@pytest.fixture
async def limited(limited_host: LimitedHost) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the limited host, every budget full again."""
    if limited_host.redis.process is None or limited_host.redis.process.poll() is not None:
        limited_host.redis.start()
    redis.Redis.from_url(limited_host.redis.url).flushall()
    async with httpx.AsyncClient(base_url=limited_host.base_url + "/", timeout=20) as client:
        yield client


@pytest.fixture
async def people(stack) -> AsyncIterator:
    """Users whose tokens come from the test profile's host (same issuer and key)."""
    async with httpx.AsyncClient(base_url=stack.base_url + "/", timeout=20) as issuer:

        async def make(role: str) -> Actor:
            return await new_actor(issuer, role)

        yield make


def _course() -> dict:
    return {"title": "Rate-limited course", "description": "made to count writes"}


def _assert_limited(resp: httpx.Response) -> None:
    assert resp.status_code == 429, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert int(resp.headers["retry-after"]) >= 1


async def test_a_user_past_the_write_rate_gets_429_with_retry_after_and_others_do_not(limited, people):
    tutor, other = await people("tutor"), await people("tutor")
    for _ in range(4):
        assert (await limited.post("courses", json=_course(), headers=tutor.headers)).status_code == 201
    _assert_limited(await limited.post("courses", json=_course(), headers=tutor.headers))
    assert (await limited.get("courses", headers=tutor.headers)).status_code == 200, "reads have their own budget"
    assert (await limited.post("courses", json=_course(), headers=other.headers)).status_code == 201


async def test_one_address_past_its_write_rate_is_refused_and_a_forged_forwarded_for_does_not_help(limited, people):
    tutors = [await people("tutor") for _ in range(4)]
    for tutor in tutors:
        for _ in range(3):  # under each user's own rate: twelve writes from one address
            assert (await limited.post("courses", json=_course(), headers=tutor.headers)).status_code == 201
    newcomer = await people("tutor")
    _assert_limited(await limited.post("courses", json=_course(), headers=newcomer.headers))
    forged = {**newcomer.headers, "X-Forwarded-For": "203.0.113.50", "X-Real-IP": "203.0.113.51"}
    _assert_limited(await limited.post("courses", json=_course(), headers=forged))
    # Writes with no valid token count against the address too.
    _assert_limited(await limited.post("courses", json=_course(), headers={"Authorization": "Bearer nonsense"}))


async def test_development_tokens_have_a_stricter_budget_per_address(limited):
    for n in range(3):
        resp = await limited.post("dev/token", json={"name": f"limited-{n}", "roles": ["student"]})
        assert resp.status_code == 200, resp.text
    _assert_limited(await limited.post("dev/token", json={"name": "one-too-many", "roles": ["student"]}))


async def test_joins_have_a_stricter_budget_per_address(limited, people):
    students = [await people("student") for _ in range(3)]
    for student in students[:2]:
        assert (await limited.post("me/negotiate", headers=student.headers)).status_code == 200
    _assert_limited(await limited.post("me/negotiate", headers=students[2].headers))


async def test_a_user_past_the_read_rate_gets_429_with_retry_after_and_others_do_not(limited, people):
    reader, other = await people("student"), await people("student")
    for _ in range(6):
        assert (await limited.get("courses", headers=reader.headers)).status_code == 200
    _assert_limited(await limited.get("courses", headers=reader.headers))
    _assert_limited(await limited.get("me/dashboard", headers=reader.headers))
    assert (await limited.get("courses", headers=other.headers)).status_code == 200


async def test_one_address_past_its_read_rate_is_refused_signed_in_or_not(limited, people):
    readers = [await people("student") for _ in range(3)]
    for reader in readers:
        for _ in range(5):  # under each user's own read rate: fifteen reads from one address
            assert (await limited.get("courses", headers=reader.headers)).status_code == 200
    newcomer = await people("student")
    _assert_limited(await limited.get("courses", headers=newcomer.headers))
    _assert_limited(await limited.get("courses", headers={**newcomer.headers, "X-Forwarded-For": "203.0.113.60"}))
    _assert_limited(await limited.get("health"))
    _assert_limited(await limited.get("courses", headers={"Authorization": "Bearer nonsense"}))


async def test_guessing_certificate_codes_from_one_address_runs_into_the_read_rate(limited):
    # Verification needs no sign-in, so a guesser has only the address's read budget.
    for n in range(15):
        resp = await limited.get(f"certificates/0000-0000-0000-{n:04d}")
        assert resp.status_code == 404, resp.text
    _assert_limited(await limited.get("certificates/0000-0000-0000-0099"))
    _assert_limited(await limited.get("certificates/0000-0000-0000-0099", headers={"X-Forwarded-For": "203.0.113.61"}))


async def test_with_redis_down_writes_go_through_but_tokens_and_joins_are_refused(limited, limited_host, people):
    tutor, student = await people("tutor"), await people("student")
    limited_host.redis.kill()
    for _ in range(6):  # past the per-user rate: nothing is metered while Redis is down
        resp = await limited.post("courses", json=_course(), headers=tutor.headers)
        assert resp.status_code == 201, resp.text
    for _ in range(8):  # reads neither
        resp = await limited.get("courses", headers=student.headers)
        assert resp.status_code == 200, resp.text
    token = await limited.post("dev/token", json={"name": "while-down", "roles": ["student"]})
    assert token.status_code == 503 and int(token.headers["retry-after"]) >= 1, token.text
    join = await limited.post("me/negotiate", headers=student.headers)
    assert join.status_code == 503 and int(join.headers["retry-after"]) >= 1, join.text


async def test_with_redis_down_roles_come_from_the_users_table_not_the_token(limited, limited_host, people, stack):
    tutor, student, admin = await people("tutor"), await people("student"), await people("admin")
    async with httpx.AsyncClient(base_url=stack.base_url + "/", timeout=20) as issuer:
        resp = await issuer.post("dev/token", json={"userId": student.user_id, "name": student.name, "roles": ["admin"]})
        assert resp.status_code == 200, resp.text
    claims_admin = {"Authorization": f"Bearer {resp.json()['token']}"}
    assert (await limited.post("courses", json=_course(), headers=tutor.headers)).status_code == 201
    limited_host.redis.kill()
    assert (await limited.get("admin/audit", headers=claims_admin)).status_code == 403
    demoted = await limited.put(f"admin/users/{tutor.user_id}/roles", json={"roles": ["student"]}, headers=admin.headers)
    assert demoted.status_code == 200, demoted.text
    refused = await limited.post("courses", json=_course(), headers=tutor.headers)
    assert refused.status_code == 403, refused.text
