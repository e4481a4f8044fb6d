"""Fixtures every ring shares: the test profile's local services, started once per session.

Nothing here runs for a test that does not ask for it, so the unit ring starts no
service. `stack` starts the whole test profile (PostgreSQL, Redis, Azurite, the local
Web PubSub service and the Functions host on 7171) through `devstack`; `test_stack`
gives finer control (start a subset, stop and restart one service in fault tests). What
the session started is stopped at its end, unless LECTERN_KEEP_STACK=1 keeps it for the
next run; sessions that overlap (two terminals) leave that to the last one to finish.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from devstack.stack import Stack

# Every test belongs to one ring, named by its folder; the stand-ins' folders hold both
# pure tests (marked `unit` in their files) and tests against real services.
RINGS = ("unit", "integration", "e2e", "fault", "infra")
FOLDER_RINGS = {
    "unit": "unit",
    "integration": "integration",
    "e2e": "e2e",
    "fault": "fault",
    "infra": "infra",
    "devhost": "integration",
    "localpubsub": "integration",
    "devstack": "integration",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks each test with its folder's ring, so `-m unit` / `-m e2e` select by ring."""
    tests_dir = os.path.dirname(__file__)
    for item in items:
        folder = os.path.relpath(str(item.path), tests_dir).split(os.sep)[0]
        if any(item.get_closest_marker(ring) for ring in RINGS):
            continue
        ring = FOLDER_RINGS.get(folder)
        if ring is None:
            raise pytest.UsageError(f"{item.nodeid}: tests/{folder} has no ring; add it to FOLDER_RINGS in tests/conftest.py")
        item.add_marker(getattr(pytest.mark, ring))


@dataclass(frozen=True)
class StackInfo:
    """Where the test profile's services are, for tests that talk to them directly."""

    base_url: str
    pubsub_connection_string: str
    storage_connection_string: str
    postgres_url: str
    redis_url: str
    stack: Stack


@pytest.fixture(scope="session")
def test_stack(pytestconfig: pytest.Config) -> Iterator[Stack]:
    """The test profile, nothing started yet: `test_stack.start(["azurite"])` starts a subset."""
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")

    def progress(line: str) -> None:
        # Past pytest's capture: starting services takes seconds and should not look like a hang.
        with capture.global_and_fixture_disabled():
            sys.stderr.write(f"[stack:test] {line}\n")
            sys.stderr.flush()

    stack = Stack("test", out=progress)
    stack.open_session()
    yield stack
    stack.close_session(keep=os.environ.get("LECTERN_KEEP_STACK") == "1")


@pytest.fixture(scope="session")
def stack(test_stack: Stack) -> StackInfo:
    """Every service of the test profile, running; os.environ holds the app's settings."""
    test_stack.start()
    os.environ.update(test_stack.env())
    settings = sys.modules.get("shared_code.settings")
    if settings is not None:
        # Settings are read once per process; forget any read before the environment was set.
        settings.get_settings.cache_clear()
    return StackInfo(
        base_url=test_stack.base_url,
        pubsub_connection_string=test_stack.pubsub_connection_string,
        storage_connection_string=test_stack.storage_connection_string,
        postgres_url=test_stack.postgres_url,
        redis_url=test_stack.redis_url,
        stack=test_stack,
    )
