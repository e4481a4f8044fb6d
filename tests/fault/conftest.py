"""Fault ring: a host of its own whose Redis and PostgreSQL this ring owns, so a test can
stop and restart them without touching the shared servers or the test profile's host."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import AsyncIterator, Iterator

import httpx
import pytest

from shared_code.migrations import apply_migrations
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import RedisServer, free_port


@dataclass
class FaultHost:
    base_url: str
    redis: RedisServer
    postgres: PostgresServer
    process: subprocess.Popen


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the fault host exited while starting")
        try:
            if httpx.get(f"{url}/system/noop", timeout=2).status_code == 204:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the fault host did not answer in time")


@pytest.fixture(scope="module")
def fault_host(stack, test_stack, tmp_path_factory) -> Iterator[FaultHost]:
    redis = RedisServer()
    redis.start()
    postgres = PostgresServer()
    postgres.init()
    postgres.start()
    apply_migrations(postgres.url)
    port = free_port()
    env = {
        **os.environ, **test_stack.env(),
        "REDIS_URL": redis.url, "POSTGRES_URL": postgres.url, "LECTERN_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
    }
    log = open(tmp_path_factory.mktemp("fault") / "host.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--app-dir", str(test_stack.repo), "--port", str(port)],
        cwd=test_stack.repo, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/api"
    try:
        _wait_healthy(base, process)
        yield FaultHost(base_url=base, redis=redis, postgres=postgres, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        redis.kill()
        postgres.remove()
        log.close()


@pytest.fixture
async def fault_api(fault_host: FaultHost) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fault_host.base_url + "/", timeout=30) as client:
        yield client

