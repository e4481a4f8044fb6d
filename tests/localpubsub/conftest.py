"""The local Web PubSub service as a subprocess on a free port, and a real HTTP event
handler for it to call.

The event handler runs in a thread with its own event loop, so tests may block (the sync
SDK clients do) without stalling the handler the service is waiting on. Its behaviour is
chosen by what the client sends: the `mode` query parameter of a connect, and the name of a
user event.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.localpubsub.helpers import (
    ACCESS_KEY,
    GRACE_SECONDS,
    MAX_MESSAGE,
    SEND_BUFFER_LIMIT,
    PubSub,
    eventually,
    free_port,
    signature,
)

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Call:
    """One request the service made to the event handler."""

    method: str
    path: str
    headers: dict[str, str]  # lowercased names
    body: bytes
    at: float = field(default_factory=time.monotonic)

    @property
    def event(self) -> str:
        return self.headers.get("ce-eventname", "")

    @property
    def connection_id(self) -> str:
        return self.headers.get("ce-connectionid", "")

    def json(self) -> Any:
        return json.loads(self.body)


class EventHandler:
    """A CloudEvents handler that checks every signature and records every call."""

    slow_release = threading.Event()  # the "slow" event answers once this is set
    connect_release = threading.Event()  # a connect with mode=held answers once this is set

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/events"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._run, name="event-handler", daemon=True)
        self._ready = threading.Event()

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the test event handler did not start")

    def stop(self) -> None:
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/events", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- queries --------------------------------------------------------------------------
    def of(self, connection_id: str, event: str | None = None) -> list[Call]:
        return [
            c for c in list(self.calls)
            if c.connection_id == connection_id and (event is None or c.event == event)
        ]

    def options_calls(self) -> list[Call]:
        return [c for c in list(self.calls) if c.method == "OPTIONS"]

    async def next(self, connection_id: str, event: str, timeout: float = 5.0) -> Call:
        return await eventually(
            lambda: (self.of(connection_id, event) or [None])[-1], timeout, f"{event} of {connection_id}"
        )

    # --- behaviour ------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        call = Call(request.method, request.path, {k.lower(): v for k, v in request.headers.items()}, body)
        self.calls.append(call)
        if request.method == "OPTIONS":
            return web.Response(
                status=200, headers={"WebHook-Allowed-Origin": request.headers.get("WebHook-Request-Origin", "")}
            )
        expected = signature(call.connection_id)
        if expected not in call.headers.get("ce-signature", "").split(","):
            return web.Response(status=401, text="bad signature")
        if call.headers.get("ce-type") == "azure.webpubsub.sys.connect":
            if (call.json()["query"].get("mode") or [""])[0] == "held":
                await asyncio.to_thread(EventHandler.connect_release.wait, 10)
            return self._connect(call)
        if call.headers.get("ce-type", "").startswith("azure.webpubsub.user."):
            return await self._user_event(call)
        return web.Response(status=200)

    @staticmethod
    def _connect(call: Call) -> web.Response:
        mode = (call.json()["query"].get("mode") or ["accept"])[0]
        if mode == "refuse401":
            return web.Response(status=401, text="no entry")
        if mode == "refuse403":
            return web.Response(status=403, text="forbidden here")
        if mode == "override":
            return web.json_response(
                {"userId": "override-user", "groups": ["override-group"], "roles": ["webpubsub.sendToGroup"]},
                headers={"ce-connectionState": base64.b64encode(b'{"from":"connect"}').decode()},
            )
        return web.Response(status=204)

    @staticmethod
    async def _user_event(call: Call) -> web.Response:
        event = call.event
        content_type = call.headers.get("content-type", "")
        if event == "echo":
            return web.Response(status=200, body=call.body, headers={"Content-Type": content_type})
        if event == "nocontent":
            return web.Response(status=204)
        if event == "fail":
            return web.Response(status=500, text="boom")
        if event == "text":
            return web.Response(status=200, text="pong")
        if event == "binary":
            return web.Response(status=200, body=b"\x00\x01\xfe", content_type="application/octet-stream")
        if event == "json":
            return web.json_response({"ok": True})
        if event == "count":
            state = call.headers.get("ce-connectionstate")
            count = json.loads(base64.b64decode(state))["count"] if state else 0
            new_state = base64.b64encode(json.dumps({"count": count + 1}).encode()).decode()
            return web.json_response({"count": count + 1}, headers={"ce-connectionState": new_state})
        if event == "slow":
            # Held until the test lets it go, so "slow" never depends on the machine's speed.
            await asyncio.to_thread(EventHandler.slow_release.wait, 10)
            return web.Response(status=204)
        if event == "message":  # plain WebSocket clients
            if content_type.startswith("text/plain"):
                return web.Response(status=200, text="echo:" + call.body.decode())
            return web.Response(status=200, body=call.body[::-1], content_type="application/octet-stream")
        return web.Response(status=204)


@pytest.fixture(scope="session")
def event_handler() -> Iterator[EventHandler]:
    handler = EventHandler()
    handler.start()
    yield handler
    handler.stop()


@pytest.fixture(scope="session")
def pubsub(event_handler: EventHandler, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PubSub]:
    """The service, started once for the session with test-sized limits."""
    workdir = tmp_path_factory.mktemp("localpubsub")
    port = free_port()
    settings = {
        "host": "127.0.0.1",
        "port": port,
        "access_key": ACCESS_KEY,
        "log_level": "debug",
        "max_message_bytes": MAX_MESSAGE,
        "send_buffer_limit_bytes": SEND_BUFFER_LIMIT,
        "reliable_grace_seconds": GRACE_SECONDS,
        "reliable_buffer_limit_bytes": 8 * 1_048_576,
        "upstream_timeout_seconds": 5,
        "upstream_validation_retry_seconds": 1,
        "hubs": {
            "live": {
                "event_handlers": [
                    {
                        "url_template": event_handler.url,
                        "system_events": ["connect", "connected", "disconnected"],
                        "user_events": ["*"],
                    }
                ]
            },
            "notify": {
                "event_handlers": [
                    {"url_template": event_handler.url, "system_events": ["connected", "disconnected"], "user_events": ["echo"]}
                ]
            },
        },
    }
    config = workdir / "settings.json"
    config.write_text(json.dumps(settings))
    log_path = workdir / "localpubsub.log"
    log = log_path.open("wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCALPUBSUB_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "localpubsub", "--config", str(config)],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    service = PubSub(port=port, access_key=ACCESS_KEY, process=process, log_path=log_path)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"localpubsub exited with {process.returncode}:\n{service.log()}")
            try:
                with urllib.request.urlopen(f"{service.endpoint}/api/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"localpubsub did not answer /api/health:\n{service.log()}")
            time.sleep(0.05)
        yield service
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
