"""The local host running the sample app, against the test profile's Azurite.

One host process serves every integration test in this directory: its timers start
firing when it starts, its queue listener polls a queue named for this session (so
messages left by an earlier run never show up), and `records()` reads what its
functions saw.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack import processes
from devstack.stack import Stack

SAMPLE_APP = Path(__file__).resolve().parent / "sample_app"


def free_port() -> int:
    # Overlapping test sessions each get their own sample host.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class SampleHost:
    base_url: str
    storage_connection_string: str
    queue_name: str
    started_at: float
    log_file: Path

    def records(self) -> dict[str, Any]:
        response = httpx.get(f"{self.base_url}/records", timeout=10)
        response.raise_for_status()
        return response.json()

    def wait_for(self, condition, timeout: float = 15.0, interval: float = 0.2):  # type: ignore[no-untyped-def]
        """Polls the records until `condition(records)` is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition(self.records())
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s; records: {self.records()}")
            time.sleep(interval)


@pytest.fixture(scope="session")
def sample_host(test_stack: Stack) -> Iterator[SampleHost]:
    test_stack.start(["azurite"])
    port = free_port()
    queue_name = f"devhost-{uuid.uuid4().hex[:10]}"
    log_file = test_stack.state_dir / f"{queue_name}.log"  # this session's own log
    env = {
        **os.environ,
        # The environment wins over the sample's local settings: the session's own queue and storage.
        "AzureWebJobsStorage": test_stack.storage_connection_string,
        "SAMPLE_QUEUE": queue_name,
    }
    started_at = time.time()
    process = processes.spawn(
        [sys.executable, "-m", "devhost", "--app-dir", str(SAMPLE_APP), "--port", str(port)],
        log_file=log_file,
        pid_file=None,
        cwd=test_stack.repo,
        env=env,
    )
    base_url = f"http://127.0.0.1:{port}/api"
    if not processes.wait_until(lambda: processes.http_status(f"{base_url}/records", timeout=1) == 200, 30):
        processes.terminate(process.pid)
        pytest.fail(f"the sample host did not start; last lines of {log_file}:\n{processes.log_tail(log_file)}")
    yield SampleHost(base_url, test_stack.storage_connection_string, queue_name, started_at, log_file)
    processes.terminate(process.pid)
    log_file.unlink(missing_ok=True)
