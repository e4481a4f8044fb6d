"""A test run or a benchmark uses only the processes its own checkout started.

A scratch checkout's stack outlives the checkout; a later benchmark on the same profile
found it healthy, called it "already running" and measured that checkout's code. Now a
service answering on a test or bench profile's port without this checkout's PID file is
never used: one left over (no test session of its checkout runs) is stopped and replaced,
one another checkout's running tests use is refused with who holds the port. The dev
profile still takes whatever answers (a host started with `func start` is the documented
path there).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import replace

import pytest

from devstack import processes
from devstack.profiles import PROFILES, REPO
from devstack.services import ServiceError
from devstack.stack import Stack
from tests.support.redis_server import free_port

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def profile():
    made = replace(PROFILES["test"], name=f"guard-{uuid.uuid4().hex[:8]}", state_name="", pay_port=free_port())
    yield made
    Stack(made, out=lambda line: None).stop(["pay"])
    shutil.rmtree(made.state_dir(REPO), ignore_errors=True)


def quiet(profile) -> Stack:
    return Stack(profile, out=lambda line: None)


def started_elsewhere(port: int, directory) -> subprocess.Popen:
    """The payment stand-in started by hand from another directory, as another checkout's
    stack would be."""
    process = subprocess.Popen(
        [sys.executable, "-m", "localpay", "--port", str(port)],
        cwd=directory, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    assert processes.wait_until(lambda: processes.http_status(f"http://127.0.0.1:{port}/health", timeout=1) == 200, 20)
    return process


def test_a_service_another_checkouts_running_tests_use_is_refused_with_who_holds_the_port(profile, tmp_path):
    elsewhere = started_elsewhere(profile.pay_port, tmp_path)
    leases = tmp_path / ".stack" / profile.state_dir(REPO).name / "leases"
    leases.mkdir(parents=True)
    (leases / str(os.getpid())).touch()  # a test session of that checkout is running
    try:
        with pytest.raises(ServiceError) as refused:
            quiet(profile).start_service("pay")
        message = str(refused.value)
        assert "this checkout did not start it" in message
        assert f"pid {elsewhere.pid}" in message and str(tmp_path) in message
        assert elsewhere.poll() is None, "the other checkout's process is left alone"

        # The dev profile takes what answers on its ports.
        assert quiet(replace(profile, own_processes_only=False)).start_service("pay") is False
    finally:
        elsewhere.terminate()
        elsewhere.wait(10)


def test_a_service_another_checkout_left_running_is_stopped_and_replaced(profile, tmp_path):
    elsewhere = started_elsewhere(profile.pay_port, tmp_path)  # no session of that checkout runs
    lines: list[str] = []
    try:
        assert Stack(profile, out=lines.append).start_service("pay") is True
        assert elsewhere.wait(15) is not None, "the leftover was stopped"
        assert any("left running by another checkout" in line and str(elsewhere.pid) in line for line in lines), lines
        ours = processes.listener(profile.pay_port)
        assert ours is not None and ours[0] != elsewhere.pid
    finally:
        if elsewhere.poll() is None:
            elsewhere.terminate()
            elsewhere.wait(10)


def test_a_service_this_checkout_started_is_used_again(profile):
    assert quiet(profile).start_service("pay") is True
    # Another run from the same checkout (a second test session) finds it by its PID file.
    assert quiet(profile).start_service("pay") is False
