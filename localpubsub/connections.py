"""Connections, hubs, groups and users, and the life of a connection from open to gone.

Everything here runs on the one event loop, so state changes need no locks; only a
delivery that yields part-way (a broadcast to thousands) takes the hub's delivery lock,
which keeps every connection seeing messages in the same order.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from localpubsub import protocol
from localpubsub.config import HubSettings, Settings
from localpubsub.odata_filter import Filter

if TYPE_CHECKING:
    from aiohttp import web

logger = logging.getLogger("localpubsub.connections")

# A broadcast hands the loop back after this many sockets, so one huge group never
# holds up handshakes, acks and REST calls for long.
YIELD_EVERY = 200
# Ack ids remembered per connection for `Duplicate` answers; older ones are forgotten.
MAX_REMEMBERED_ACK_IDS = 4096
# Frames above this size are written in parts instead of joined per recipient.
JOIN_BELOW = 16 * 1024


class Mode(Enum):
    PLAIN = "plain"  # no service subprotocol: raw payloads, every frame a `message` event
    JSON = "json"
    RELIABLE = "reliable"


def new_connection_id() -> str:
    return secrets.token_urlsafe(16)


class Connection:
    """One client connection. A reliable connection outlives its socket: after a drop it
    waits, detached, for the client to resume it, keeping what the client has not acked."""

    __slots__ = (
        "hub", "connection_id", "user_id", "roles", "subprotocol", "mode", "groups", "state",
        "reconnection_token", "ws", "transport", "closing_reason", "close_task", "finished", "grace_timer",
        "upstream_jobs", "opened_at", "_ack_ids", "_next_sequence", "_unacked", "_unacked_bytes",
    )

    def __init__(
        self,
        hub: Hub,
        connection_id: str,
        *,
        user_id: str | None,
        roles: Iterable[str],
        subprotocol: str | None,
        state: str | None = None,
    ) -> None:
        self.hub = hub
        self.connection_id = connection_id
        self.user_id = user_id
        self.roles: set[str] = set(roles)
        self.subprotocol = subprotocol
        if subprotocol == protocol.JSON_RELIABLE_V1:
            self.mode = Mode.RELIABLE
        elif subprotocol == protocol.JSON_V1:
            self.mode = Mode.JSON
        else:
            self.mode = Mode.PLAIN
        self.groups: set[str] = set()
        self.state = state
        self.reconnection_token = secrets.token_urlsafe(32) if self.mode is Mode.RELIABLE else None
        self.ws: web.WebSocketResponse | None = None
        self.transport: asyncio.Transport | None = None
        self.closing_reason: str | None = None
        # The service's closing handshake, which the socket's handler waits for before it returns.
        self.close_task: asyncio.Task[bool] | None = None
        self.finished = False
        self.grace_timer: asyncio.TimerHandle | None = None
        self.upstream_jobs: object | None = None  # the upstream's per-connection queue, made on first use
        self.opened_at = time.monotonic()
        self._ack_ids: dict[int, None] | None = None
        self._next_sequence = 1
        self._unacked: deque[tuple[int, protocol.OutboundMessage]] | None = None
        self._unacked_bytes = 0

    def __repr__(self) -> str:
        return f"<Connection {self.connection_id} hub={self.hub.name} user={self.user_id} mode={self.mode.value}>"

    # --- socket --------------------------------------------------------------------------
    @property
    def attached(self) -> bool:
        return self.transport is not None

    def attach(self, ws: web.WebSocketResponse, transport: asyncio.Transport) -> None:
        self.ws = ws
        self.transport = transport

    def detach(self) -> None:
        self.ws = None
        self.transport = None

    def _write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(data)
        if transport.get_write_buffer_size() > self.hub.settings.send_buffer_limit_bytes:
            self.hub.registry.drop(self, "The connection's send buffer is full: the client does not read fast enough.")

    def _write_parts(self, header: bytes, head: bytes, tail: bytes) -> None:
        if len(head) < JOIN_BELOW:
            self._write(header + head + tail)
            return
        # Large payloads are shared between recipients; writing them by reference avoids a
        # copy per connection when the socket takes them at once.
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(header)
        transport.write(head)
        self._write(tail)

    def send_frame(self, frame: bytes) -> None:
        """A control message (ack, system, pong): never sequenced, lost if the socket is down."""
        self._write(frame)

    def deliver(self, message: protocol.OutboundMessage) -> None:
        """Data for this connection in the form its protocol wants."""
        if self.mode is Mode.RELIABLE:
            sequence_id = self._next_sequence
            self._next_sequence += 1
            if self._unacked is None:
                self._unacked = deque()
            self._unacked.append((sequence_id, message))
            self._unacked_bytes += message.size
            if self._unacked_bytes > self.hub.settings.reliable_buffer_limit_bytes:
                self.hub.registry.drop(self, "Too many messages are waiting for the client's sequenceAck.")
                return
            if self.transport is not None:
                self._write_parts(*message.reliable_frame_parts(sequence_id))
        elif self.mode is Mode.JSON:
            self._write(message.json_frame())
        else:
            self._write(message.plain_frame())

    def acknowledge(self, sequence_id: int) -> None:
        """The client has everything up to `sequence_id`; forget it."""
        unacked = self._unacked
        while unacked and unacked[0][0] <= sequence_id:
            _, message = unacked.popleft()
            self._unacked_bytes -= message.size

    def resend_unacked(self) -> None:
        for sequence_id, message in list(self._unacked or ()):
            self._write_parts(*message.reliable_frame_parts(sequence_id))

    @property
    def unacked_count(self) -> int:
        return len(self._unacked or ())

    # --- acks and permissions ---------------------------------------------------------------
    def seen_ack_id(self, ack_id: int) -> bool:
        return self._ack_ids is not None and ack_id in self._ack_ids

    def remember_ack_id(self, ack_id: int) -> None:
        if self._ack_ids is None:
            self._ack_ids = {}
        self._ack_ids[ack_id] = None
        if len(self._ack_ids) > MAX_REMEMBERED_ACK_IDS:
            del self._ack_ids[next(iter(self._ack_ids))]

    def forget_ack_id(self, ack_id: int) -> None:
        if self._ack_ids is not None:
            self._ack_ids.pop(ack_id, None)

    def may(self, permission: str, group: str) -> bool:
        """`permission` is joinLeaveGroup or sendToGroup; a role names it for all groups or one."""
        return f"webpubsub.{permission}" in self.roles or f"webpubsub.{permission}.{group}" in self.roles


class Hub:
    """The connections of one hub, with their groups and users."""

    def __init__(self, name: str, registry: Registry) -> None:
        self.name = name
        self.registry = registry
        self.settings = registry.settings
        self.hub_settings: HubSettings = registry.settings.hub_settings(name)
        self.connections: dict[str, Connection] = {}
        self.groups: dict[str, set[Connection]] = {}
        self.users: dict[str, set[Connection]] = {}
        # Users added to a group through REST: their later connections join it as well.
        self.user_groups: dict[str, set[str]] = {}
        self.delivery_lock = asyncio.Lock()

    # --- membership -------------------------------------------------------------------------
    def add(self, conn: Connection, groups: Iterable[str]) -> None:
        self.connections[conn.connection_id] = conn
        if conn.user_id is not None:
            self.users.setdefault(conn.user_id, set()).add(conn)
            groups = [*groups, *self.user_groups.get(conn.user_id, ())]
        for group in groups:
            self.join(conn, group)

    def discard(self, conn: Connection) -> None:
        if self.connections.get(conn.connection_id) is conn:
            del self.connections[conn.connection_id]
        self.leave_all(conn)
        if conn.user_id is not None:
            members = self.users.get(conn.user_id)
            if members is not None:
                members.discard(conn)
                if not members:
                    del self.users[conn.user_id]

    def join(self, conn: Connection, group: str) -> None:
        if conn.finished:
            return
        self.groups.setdefault(group, set()).add(conn)
        conn.groups.add(group)

    def leave(self, conn: Connection, group: str) -> None:
        conn.groups.discard(group)
        members = self.groups.get(group)
        if members is not None:
            members.discard(conn)
            if not members:
                del self.groups[group]

    def leave_all(self, conn: Connection) -> None:
        for group in list(conn.groups):
            self.leave(conn, group)

    def add_user_to_group(self, user_id: str, group: str) -> None:
        self.user_groups.setdefault(user_id, set()).add(group)
        for conn in list(self.users.get(user_id, ())):
            self.join(conn, group)

    def remove_user_from_group(self, user_id: str, group: str) -> None:
        remembered = self.user_groups.get(user_id)
        if remembered is not None:
            remembered.discard(group)
            if not remembered:
                del self.user_groups[user_id]
        for conn in list(self.users.get(user_id, ())):
            self.leave(conn, group)

    def remove_user_from_all_groups(self, user_id: str) -> None:
        self.user_groups.pop(user_id, None)
        for conn in list(self.users.get(user_id, ())):
            self.leave_all(conn)

    # --- selection and delivery ---------------------------------------------------------------
    def group_members(self, group: str) -> Iterable[Connection]:
        return self.groups.get(group, ())

    def user_connections(self, user_id: str) -> Iterable[Connection]:
        return self.users.get(user_id, ())

    @staticmethod
    def select(
        candidates: Iterable[Connection], excluded: Iterable[str] = (), where: Filter | None = None
    ) -> list[Connection]:
        excluded = set(excluded)
        return [
            conn
            for conn in candidates
            if conn.connection_id not in excluded and (where is None or where.matches(conn))
        ]

    async def deliver(self, targets: list[Connection], message: protocol.OutboundMessage) -> None:
        """Write `message` to every target, handing the loop back now and then."""
        if len(targets) <= YIELD_EVERY:
            for conn in targets:
                if not conn.finished:
                    conn.deliver(message)
            return
        started = time.perf_counter()
        async with self.delivery_lock:
            for index, conn in enumerate(targets, 1):
                if not conn.finished:
                    conn.deliver(message)
                if index % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        logger.debug(
            "hub %s: %d bytes delivered to %d connections in %.1f ms",
            self.name, message.size, len(targets), (time.perf_counter() - started) * 1000,
        )


class LifecycleEvents(Protocol):
    """Who hears that a connection is really gone (the upstream's `disconnected`)."""

    def disconnected(self, conn: Connection, reason: str) -> None: ...


class Registry:
    """All hubs, and the transitions of a connection: open, suspend, resume, close, finish."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.hubs: dict[str, Hub] = {}
        self.events: LifecycleEvents | None = None
        self._closing: set[asyncio.Task[bool]] = set()

    def hub(self, name: str) -> Hub:
        hub = self.hubs.get(name)
        if hub is None:
            hub = self.hubs[name] = Hub(name, self)
        return hub

    def find(self, hub_name: str, connection_id: str) -> Connection | None:
        hub = self.hubs.get(hub_name)
        return None if hub is None else hub.connections.get(connection_id)

    @property
    def connection_count(self) -> int:
        return sum(len(hub.connections) for hub in self.hubs.values())

    def open(self, conn: Connection, groups: Iterable[str]) -> None:
        conn.hub.add(conn, groups)
        logger.debug(
            "connection %s opened: hub=%s user=%s subprotocol=%s groups=%s",
            conn.connection_id, conn.hub.name, conn.user_id, conn.subprotocol, sorted(conn.groups),
        )

    def resumable(self, hub_name: str, connection_id: str, token: str) -> Connection | None:
        """The reliable connection this id and token may resume, or None."""
        conn = self.find(hub_name, connection_id)
        if conn is None or conn.finished or conn.closing_reason is not None or conn.reconnection_token is None:
            return None
        if not secrets.compare_digest(conn.reconnection_token, token):
            return None
        return conn

    def resume(self, conn: Connection, ws: web.WebSocketResponse, transport: asyncio.Transport) -> None:
        """Give a reliable connection its new socket and replay what the client has not acked."""
        if conn.grace_timer is not None:
            conn.grace_timer.cancel()
            conn.grace_timer = None
        old_transport = conn.transport
        conn.attach(ws, transport)
        if old_transport is not None and old_transport is not transport:
            # The client came back before the service noticed the old socket die.
            old_transport.abort()
        conn.send_frame(protocol.connected_frame(conn.connection_id, conn.user_id, conn.reconnection_token))
        conn.resend_unacked()
        logger.debug("connection %s resumed, %d unacked messages replayed", conn.connection_id, conn.unacked_count)

    def suspend(self, conn: Connection) -> None:
        """The socket of a reliable connection dropped: wait for the client to resume it."""
        conn.detach()
        grace = self.settings.reliable_grace_seconds
        loop = asyncio.get_running_loop()
        conn.grace_timer = loop.call_later(grace, self._grace_expired, conn)
        logger.debug("connection %s dropped; resumable for %.0f s", conn.connection_id, grace)

    def _grace_expired(self, conn: Connection) -> None:
        conn.grace_timer = None
        if not conn.attached:
            self.finish(conn, f"The connection was not recovered within {self.settings.reliable_grace_seconds:g} seconds.")

    def close(self, conn: Connection, reason: str | None = None, code: int = 1000) -> None:
        """The service ends a connection: a REST close (1000), or a client that broke the
        protocol (1008, which also tells a reliable client not to try to recover)."""
        if conn.finished or conn.closing_reason is not None:
            return
        reason = reason or "The connection was closed by the server."
        conn.closing_reason = reason
        # Gone at once, as in the service: no longer a member of any group, not counted for
        # its user, not found by id, and not resumable, even while the close handshake runs
        # (a client that stopped reading can hold that open). `disconnected` goes upstream
        # when the socket has ended.
        conn.hub.discard(conn)
        ws = conn.ws
        if ws is None:
            self.finish(conn, reason)
            return
        if conn.mode is not Mode.PLAIN:
            conn.send_frame(protocol.disconnected_frame(reason))
        message = reason.encode("utf-8")[:123]
        task = asyncio.get_running_loop().create_task(ws.close(code=code, message=message))
        conn.close_task = task
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def drop(self, conn: Connection, reason: str) -> None:
        """End a connection at once, without a close handshake: its socket is not keeping up."""
        if conn.finished or conn.closing_reason is not None:
            return
        logger.warning("dropping connection %s (hub %s): %s", conn.connection_id, conn.hub.name, reason)
        conn.closing_reason = reason
        transport = conn.transport
        if transport is None:
            self.finish(conn, reason)
        else:
            transport.abort()

    def finish(self, conn: Connection, reason: str) -> None:
        """The connection is gone for good: out of every group, and upstream is told."""
        if conn.finished:
            return
        conn.finished = True
        if conn.grace_timer is not None:
            conn.grace_timer.cancel()
            conn.grace_timer = None
        conn.hub.discard(conn)
        conn.detach()
        logger.debug("connection %s closed: %s", conn.connection_id, reason)
        if self.events is not None:
            self.events.disconnected(conn, reason)

    async def shutdown(self) -> None:
        for hub in list(self.hubs.values()):
            for conn in list(hub.connections.values()):
                if conn.grace_timer is not None:
                    conn.grace_timer.cancel()
                    conn.grace_timer = None
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
