"""Fault ring: a host of its own whose Redis and PostgreSQL this ring owns, so a test can
stop and restart them without touching the shared servers or the test profile's host.

Each drill prints its tally (attempted, acknowledged, lost, duplicated); pytest captures
that, so the hooks at the end copy every tally with the drill's outcome into
`.stack/test/fault-report.txt` (`.stack/test-N/` for test slot N) and repeat them in the terminal summary.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

import httpx
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables.aio import TableClient
from azure.storage.queue.aio import QueueClient

from devstack.profiles import PROFILES
from shared_code.migrations import apply_migrations
from shared_code.settings import AZURITE_ACCOUNT, AZURITE_KEY
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import RedisServer, free_port


class PubSubServer:
    """The fault host's own local Web PubSub service, stopped and restarted at will."""

    def __init__(self, repo, access_key: str, upstream_url: str, log_path) -> None:
        self.port = free_port()
        self._cmd = [
            sys.executable, "-m", "localpubsub", "--port", str(self.port),
            "--access-key", access_key, "--upstream-url", upstream_url,
        ]
        self._repo, self._log_path = repo, log_path
        self.process: subprocess.Popen | None = None

    def connection_string(self, access_key: str) -> str:
        return f"Endpoint=http://127.0.0.1;Port={self.port};AccessKey={access_key};Version=1.0;"

    def start(self) -> None:
        # The child keeps its own copy of the log's descriptor; ours closes once it has started.
        with open(self._log_path, "ab") as log:
            self.process = subprocess.Popen(self._cmd, cwd=self._repo, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/api/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the local Web PubSub service did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


class AzuriteServer:
    """The fault host's own Azurite, with its data on disk so a restart keeps it."""

    def __init__(self, repo, data_dir, log_path) -> None:
        self.ports = (free_port(), free_port(), free_port())
        self._repo, self._data, self._log_path = repo, data_dir, log_path
        self.process: subprocess.Popen | None = None

    @property
    def connection_string(self) -> str:
        blob, queue, table = self.ports
        base = "http://127.0.0.1"
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={base}:{blob}/{AZURITE_ACCOUNT};QueueEndpoint={base}:{queue}/{AZURITE_ACCOUNT};"
            f"TableEndpoint={base}:{table}/{AZURITE_ACCOUNT};"
        )

    def start(self) -> None:
        blob, queue, table = self.ports
        with open(self._log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [str(self._repo / "node_modules" / ".bin" / "azurite"), "--skipApiVersionCheck", "--disableTelemetry",
                 "--silent", "--location", str(self._data),
                 "--blobHost", "127.0.0.1", "--blobPort", str(blob), "--queueHost", "127.0.0.1", "--queuePort", str(queue),
                 "--tableHost", "127.0.0.1", "--tablePort", str(table)],
                cwd=self._repo, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", table), timeout=0.2):
                    with socket.create_connection(("127.0.0.1", queue), timeout=0.2):
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("Azurite did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _access_key(connection_string: str) -> str:
    parts = dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)
    return parts["AccessKey"]


@dataclass
class FaultHost:
    base_url: str
    redis: RedisServer
    postgres: PostgresServer
    pubsub: PubSubServer
    outbox_queue: str
    azurite: AzuriteServer
    process: subprocess.Popen
    command: list[str]
    env: dict[str, str]
    log: IO[bytes]

    def kill(self) -> None:
        """The host dies at once, as a process the platform recycles without warning does."""
        self.process.kill()
        self.process.wait(timeout=10)

    def start(self, **settings: str) -> None:
        """A new host process on the same port (the Web PubSub service's upstream), with
        `settings` over the fault host's environment."""
        app_dir = self.command[self.command.index("--app-dir") + 1]
        self.process = subprocess.Popen(
            self.command, cwd=app_dir, env={**self.env, **settings}, stdout=self.log, stderr=subprocess.STDOUT
        )
        _wait_healthy(self.base_url, self.process)


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
    logs = tmp_path_factory.mktemp("fault")
    base_env = {**os.environ, **test_stack.env()}
    key = _access_key(base_env["WebPubSubConnectionString"])
    pubsub = PubSubServer(test_stack.repo, key, f"http://127.0.0.1:{port}/api/webpubsub/events", logs / "pubsub.log")
    pubsub.start()
    azurite = AzuriteServer(test_stack.repo, logs / "azurite-data", logs / "azurite.log")
    azurite.start()
    # Its own outbox queue, so the test profile's host never takes this host's retries.
    outbox_queue = f"outboxfault{uuid.uuid4().hex[:8]}"
    env = {
        **base_env,
        "REDIS_URL": redis.url, "POSTGRES_URL": postgres.url, "LECTERN_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "WebPubSubConnectionString": pubsub.connection_string(key), "LECTERN_OUTBOX_QUEUE": outbox_queue,
        "AzureWebJobsStorage": azurite.connection_string,
    }
    log = open(logs / "host.log", "wb")
    command = [sys.executable, "-m", "devhost", "--app-dir", str(test_stack.repo), "--port", str(port)]
    process = subprocess.Popen(command, cwd=test_stack.repo, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/api"
    host = FaultHost(base_url=base, redis=redis, postgres=postgres, pubsub=pubsub, outbox_queue=outbox_queue,
                     azurite=azurite, process=process, command=command, env=env, log=log)
    try:
        _wait_healthy(base, process)
        yield host
    finally:
        # The process running now: a drill may have killed the first and started another.
        host.process.terminate()
        try:
            host.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            host.process.kill()
        redis.kill()
        pubsub.stop()
        azurite.stop()
        postgres.remove()
        log.close()


class Timings:
    """How long calls took in one phase of a fault test (while a service is down, say)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.seconds: list[float] = []

    def add(self, seconds: float) -> None:
        self.seconds.append(seconds)

    @property
    def slowest(self) -> float:
        return max(self.seconds, default=0.0)

    def after_first(self, n: int) -> list[float]:
        """The calls after the first `n`, when the breaker had its failures to open on."""
        return self.seconds[n:]

    def summary(self) -> str:
        ordered = sorted(self.seconds)
        median = ordered[len(ordered) // 2] if ordered else 0.0
        return f"{self.label}: {len(ordered)} calls, median {median * 1000:.0f} ms, slowest {self.slowest * 1000:.0f} ms"


async def queue_length(connection_string: str, name: str) -> int:
    """Messages in a queue, hidden ones (waiting for their retry) included."""
    async with QueueClient.from_connection_string(connection_string, name) as queue:
        try:
            return (await queue.get_queue_properties()).approximate_message_count or 0
        except ResourceNotFoundError:
            return 0


async def outbox_settled(host: FaultHost, *, timeout: float = 60) -> tuple[int, int]:
    """Waits until the host's outbox queue is empty: every queued effect ran (or gave up).
    Returns (still queued, poisoned)."""
    deadline = time.monotonic() + timeout
    waiting = await queue_length(host.azurite.connection_string, host.outbox_queue)
    while waiting and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        waiting = await queue_length(host.azurite.connection_string, host.outbox_queue)
    return waiting, await queue_length(host.azurite.connection_string, f"{host.outbox_queue}-poison")


async def change_log(host: FaultHost, user_id: str, kind: str) -> list[dict]:
    """The user's change-log rows of one kind, from the fault host's own Table storage."""
    async with TableClient.from_connection_string(host.azurite.connection_string, "changelog") as table:
        try:
            return [dict(e) async for e in table.query_entities(
                "PartitionKey eq @pk and kind eq @kind", parameters={"pk": user_id, "kind": kind})]
        except ResourceNotFoundError:
            return []


@pytest.fixture
async def fault_api(fault_host: FaultHost) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fault_host.base_url + "/", timeout=30) as client:
        yield client



# --- the tallies, past pytest's capture -------------------------------------------------------

REPORT = PROFILES["test"].state_dir() / "fault-report.txt"
_TALLY = re.compile(r"\battempted=\d+.*\blost=\d+.*\bduplicated=\d+")
_lines: list[str] = []


def _record(line: str) -> None:
    """Appends one line to this session's report, starting the file afresh on the first."""
    if not _lines:
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        started = datetime.now(UTC).isoformat(timespec="seconds")
        REPORT.write_text(f"# fault drills, session started {started}; see docs/reliability.md\n")
    _lines.append(line)
    with REPORT.open("a") as report:
        report.write(line + "\n")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """One line per drill: its printed tally, whether it passed, and so whether it recovered.

    A drill passes only when nothing acknowledged was lost or duplicated and the host came
    back by itself (no restart), so `recovered=yes` is the drill's outcome, not a guess.
    """
    if report.when == "setup" and not report.failed:
        return
    if report.when == "teardown" and not report.failed:
        return
    name = report.nodeid.split("::", 1)[-1]
    crash = getattr(getattr(report.longrepr, "reprcrash", None), "message", "") or report.longreprtext
    why = crash.strip().splitlines()[0][:200] if crash.strip() else "no detail"
    tallies = [line.strip() for line in report.capstdout.splitlines() if _TALLY.search(line)]
    if report.when != "call":
        _record(f"{name}: {report.when} failed, no tally ({why})")
        return
    recovered = "yes" if report.passed else "unproven"
    outcome = "passed" if report.passed else f"failed: {why}"
    for tally in tallies or ["no tally printed"]:
        _record(f"{name}: {tally} recovered={recovered} ({outcome})")


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if not _lines:
        return
    terminalreporter.section("fault drill tallies")
    for line in _lines:
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"(also in {REPORT.relative_to(PROFILES['test'].state_dir().parent.parent)})")
