"""The local host runs the app on the event loop the deployed worker would give it."""

from __future__ import annotations

import asyncio
import sys

import pytest
import uvloop

from devhost import event_loop


def test_on_python_313_the_app_runs_on_uvloop_as_in_the_deployed_worker() -> None:
    factory = event_loop.worker_loop_factory()
    assert factory is uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        assert isinstance(runner.get_loop(), uvloop.Loop)


def test_before_python_313_the_app_runs_on_asyncio_s_own_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "version_info", (3, 11, 7, "final", 0))
    assert event_loop.worker_loop_factory() is None
