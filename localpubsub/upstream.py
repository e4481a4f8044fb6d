"""Calls to a hub's event handler: CloudEvents over HTTP in binary mode, as the service makes them.

`connect` and user events are blocking (their answers decide what happens next);
`connected` and `disconnected` are fire-and-forget. Each connection's events run in order on
a queue of their own, so a slow handler call holds up only that connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from localpubsub import protocol, tokens
from localpubsub.config import EventHandler, Settings
from localpubsub.connections import Connection
from localpubsub.http_client import HttpClient, UpstreamError

logger = logging.getLogger("localpubsub.upstream")

Job = Callable[[], Awaitable[None]]


class SerialQueue:
    """Runs one connection's upstream jobs one after another; the task exists only while
    there is work, so thousands of idle connections cost no tasks."""

    __slots__ = ("_jobs", "_task")

    def __init__(self) -> None:
        self._jobs: deque[Job] = deque()
        self._task: asyncio.Task[None] | None = None

    def submit(self, job: Job) -> None:
        self._jobs.append(job)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._jobs:
                job = self._jobs.popleft()
                try:
                    await job()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("upstream job failed")
        finally:
            self._task = None


@dataclass
class ConnectOutcome:
    """What the handler said to `connect`: refused (with the status to answer the handshake
    with) or accepted, possibly overriding user, groups, roles and subprotocol."""

    accepted: bool
    status: int = 200
    reason: str = ""
    user_id: str | None = None
    groups: list[str] | None = None
    roles: list[str] | None = None
    subprotocol: str | None = None
    state_set: bool = False
    state: str | None = None


@dataclass
class EventOutcome:
    """The handler's answer to a user event."""

    ok: bool
    status: int | None = None
    content_type: str | None = None
    body: bytes = b""
    reason: str = ""


@dataclass
class _Caller:
    """The connection an event is about, before or after the connection object exists."""

    hub: str
    connection_id: str
    user_id: str | None
    subprotocol: str | None = None
    state: str | None = None


def _timestamp() -> str:
    return datetime.now(tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _as_lists(values: Mapping[str, Any]) -> dict[str, list[str]]:
    return {key: tokens.string_list(value) for key, value in values.items()}


class Upstream:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: HttpClient | None = None
        self._validated: dict[str, tuple[bool, float]] = {}
        self._validation_locks: dict[str, asyncio.Lock] = {}

    async def start(self) -> None:
        self.client = HttpClient(timeout_seconds=self.settings.upstream_timeout_seconds, limit=256)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()

    # --- abuse protection ------------------------------------------------------------------
    async def validated(self, url: str) -> bool:
        """Whether the handler at `url` allowed this service (OPTIONS handshake), cached:
        a success for good, a failure for a few seconds so a handler that starts later is found."""
        cached = self._validated.get(url)
        if cached is not None and (cached[0] or time.monotonic() - cached[1] < self.settings.upstream_validation_retry_seconds):
            return cached[0]
        lock = self._validation_locks.setdefault(url, asyncio.Lock())
        async with lock:
            cached = self._validated.get(url)
            if cached is not None and (cached[0] or time.monotonic() - cached[1] < self.settings.upstream_validation_retry_seconds):
                return cached[0]
            allowed = await self._validate(url)
            self._validated[url] = (allowed, time.monotonic())
            return allowed

    async def _validate(self, url: str) -> bool:
        assert self.client is not None
        origin = self.settings.host_name
        try:
            answer = await self.client.request("OPTIONS", url, {"WebHook-Request-Origin": origin})
            allowed = answer.headers.get("WebHook-Allowed-Origin", "")
            status = answer.status
        except (TimeoutError, UpstreamError) as exc:
            logger.warning("upstream %s unreachable for the abuse-protection handshake: %s", url, exc or type(exc).__name__)
            return False
        origins = {part.strip().lower() for part in allowed.split(",")}
        if status == 200 and ("*" in origins or origin.lower() in origins):
            logger.info("upstream %s allowed origin %s", url, origin)
            return True
        logger.warning("upstream %s refused origin %s (status %s, WebHook-Allowed-Origin %r)", url, origin, status, allowed)
        return False

    # --- the calls ---------------------------------------------------------------------------
    def _headers(self, caller: _Caller, kind: str, event: str, content_type: str) -> dict[str, str]:
        headers = {
            "Content-Type": content_type,
            "WebHook-Request-Origin": self.settings.host_name,
            "ce-specversion": "1.0",
            "ce-type": f"azure.webpubsub.{kind}.{event}",
            "ce-source": f"/hubs/{caller.hub}/client/{caller.connection_id}",
            "ce-id": uuid.uuid4().hex,
            "ce-time": _timestamp(),
            "ce-awpsversion": "1.0",
            "ce-hub": caller.hub,
            "ce-connectionId": caller.connection_id,
            "ce-eventName": event,
            "ce-signature": tokens.connection_signature(self.settings.access_key, caller.connection_id),
        }
        if caller.user_id is not None:
            headers["ce-userId"] = caller.user_id
        if caller.subprotocol:
            headers["ce-subprotocol"] = caller.subprotocol
        if caller.state is not None:
            headers["ce-connectionState"] = caller.state
        return headers

    async def _post(
        self, url: str, caller: _Caller, kind: str, event: str, content_type: str, body: bytes
    ) -> tuple[int, Mapping[str, str], bytes]:
        """One event POST; raises UpstreamError, TimeoutError, or PermissionError when the
        handler never allowed this service."""
        assert self.client is not None
        if not await self.validated(url):
            raise PermissionError(f"the event handler {url} did not allow this service's origin")
        started = time.perf_counter()
        headers = self._headers(caller, kind, event, content_type)
        answer = await self.client.request("POST", url, headers, body)
        logger.debug(
            "upstream %s.%s for %s -> %s in %.1f ms",
            kind, event, caller.connection_id, answer.status, (time.perf_counter() - started) * 1000,
        )
        return answer.status, answer.headers, answer.body

    async def connect(
        self,
        handler: EventHandler,
        *,
        hub: str,
        connection_id: str,
        user_id: str | None,
        claims: Mapping[str, Any],
        query: Mapping[str, list[str]],
        headers: Mapping[str, list[str]],
        subprotocols: list[str],
    ) -> ConnectOutcome:
        body = json.dumps(
            {
                "claims": _as_lists(claims),
                "query": dict(query),
                "headers": dict(headers),
                "subprotocols": subprotocols,
                "clientCertificates": [],
            }
        ).encode("utf-8")
        caller = _Caller(hub=hub, connection_id=connection_id, user_id=user_id)
        url = handler.url_for(hub, "connect")
        try:
            status, response_headers, payload = await self._post(url, caller, "sys", "connect", "application/json", body)
        except PermissionError as exc:
            return ConnectOutcome(accepted=False, status=500, reason=str(exc))
        except (TimeoutError, UpstreamError) as exc:
            logger.warning("connect event for %s failed: %s", connection_id, exc or type(exc).__name__)
            return ConnectOutcome(accepted=False, status=500, reason="The connect event handler could not be reached.")
        if status not in (200, 204):
            return ConnectOutcome(accepted=False, status=status, reason=payload.decode("utf-8", "replace")[:500])
        outcome = ConnectOutcome(accepted=True, status=status)
        if "ce-connectionState" in response_headers:
            outcome.state_set = True
            outcome.state = response_headers["ce-connectionState"] or None
        if status == 200 and payload.strip():
            try:
                answer = json.loads(payload)
            except ValueError:
                logger.warning("connect event for %s: the handler answered 200 with a body that is not JSON", connection_id)
                return ConnectOutcome(accepted=False, status=500, reason="The connect event handler's answer is not JSON.")
            if isinstance(answer, dict):
                _apply_connect_answer(outcome, answer, connection_id)
        return outcome

    def submit(self, conn: Connection, job: Job) -> None:
        """Queue a job behind the connection's earlier upstream events."""
        queue = conn.upstream_jobs
        if not isinstance(queue, SerialQueue):
            queue = conn.upstream_jobs = SerialQueue()
        queue.submit(job)

    def _caller(self, conn: Connection) -> _Caller:
        return _Caller(
            hub=conn.hub.name, connection_id=conn.connection_id, user_id=conn.user_id,
            subprotocol=conn.subprotocol, state=conn.state,
        )

    def _notify(self, conn: Connection, event: str, body: dict[str, Any]) -> None:
        handler = conn.hub.hub_settings.handler_for_system(event)
        if handler is None:
            return
        url = handler.url_for(conn.hub.name, event)
        payload = json.dumps(body).encode("utf-8")

        async def job() -> None:
            try:
                status, _, _ = await self._post(url, self._caller(conn), "sys", event, "application/json", payload)
            except (TimeoutError, PermissionError, UpstreamError) as exc:
                # UpstreamError also when the client closed under a late `disconnected` at shutdown.
                logger.warning("%s event for %s failed: %s", event, conn.connection_id, exc or type(exc).__name__)
                return
            if not 200 <= status < 300:
                logger.warning("%s event for %s answered %s", event, conn.connection_id, status)

        self.submit(conn, job)

    def connected(self, conn: Connection) -> None:
        self._notify(conn, "connected", {})

    def disconnected(self, conn: Connection, reason: str) -> None:
        self._notify(conn, "disconnected", {"reason": reason})

    async def user_event(
        self, conn: Connection, handler: EventHandler, event: str, data_type: str, payload: bytes
    ) -> EventOutcome:
        """Call the handler with a client's event; run it through `submit` to keep order."""
        url = handler.url_for(conn.hub.name, event)
        content_type = protocol.CONTENT_TYPE_OF[data_type]
        try:
            status, headers, body = await self._post(url, self._caller(conn), "user", event, content_type, payload)
        except PermissionError as exc:
            return EventOutcome(ok=False, reason=str(exc))
        except (TimeoutError, UpstreamError) as exc:
            logger.warning("%s event for %s failed: %s", event, conn.connection_id, exc or type(exc).__name__)
            return EventOutcome(ok=False, reason="The event handler could not be reached.")
        if "ce-connectionState" in headers:
            conn.state = headers["ce-connectionState"] or None
        if not 200 <= status < 300:
            return EventOutcome(ok=False, status=status, reason=f"The event handler answered {status}.")
        return EventOutcome(ok=True, status=status, content_type=headers.get("Content-Type"), body=body)


def _apply_connect_answer(outcome: ConnectOutcome, answer: dict[str, Any], connection_id: str) -> None:
    """Take the overrides a 200 answer to `connect` may carry; ignore fields of the wrong shape."""

    def strings(name: str) -> list[str] | None:
        value = answer.get(name)
        if value is None:
            return None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        logger.warning("connect answer for %s: '%s' is not a list of strings; ignored", connection_id, name)
        return None

    user_id = answer.get("userId")
    if isinstance(user_id, str) and user_id:
        outcome.user_id = user_id
    outcome.groups = strings("groups")
    outcome.roles = strings("roles")
    subprotocol = answer.get("subprotocol")
    if isinstance(subprotocol, str) and subprotocol:
        outcome.subprotocol = subprotocol
