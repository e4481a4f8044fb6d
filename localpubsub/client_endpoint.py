"""The client endpoint `/client/hubs/{hub}`: the WebSocket handshake (token, `connect`
event, subprotocol), resuming reliable connections, and every message a client sends."""

from __future__ import annotations

import asyncio
import json
import logging
import re

from aiohttp import WSMsgType, web
from aiohttp.http_websocket import WebSocketError

from localpubsub import protocol, tokens
from localpubsub.config import Settings
from localpubsub.connections import Connection, Mode, Registry, new_connection_id
from localpubsub.upstream import Upstream

logger = logging.getLogger("localpubsub.clients")

HUB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_`,.\[\]]{0,127}$")
# Close codes as the service uses them.
CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008
# Query parameters that never go upstream: they are credentials.
PRIVATE_QUERY = {"access_token", "awps_reconnection_token"}
PRIVATE_HEADERS = {"authorization", "cookie"}


def requested_subprotocols(request: web.Request) -> list[str]:
    header = ",".join(request.headers.getall("Sec-WebSocket-Protocol", []))
    return [part.strip() for part in header.split(",") if part.strip()]


def bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def reply_data_type(content_type: str | None, body: bytes) -> str:
    """How an upstream's answer travels back to the client, by its Content-Type."""
    data_type = protocol.data_type_of(content_type)
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if data_type is None:
        if media.endswith("+json"):
            data_type = "json"
        elif media.startswith("text/"):
            data_type = "text"
        else:
            data_type = "binary"
    if data_type == "json":
        try:
            json.loads(body)
        except ValueError:
            return "text"
    return data_type


class ClientEndpoint:
    def __init__(self, settings: Settings, registry: Registry, upstream: Upstream) -> None:
        self.settings = settings
        self.registry = registry
        self.upstream = upstream
        self.hosts = tokens.accepted_hosts(settings.host)
        self.latency = settings.simulated_latency_ms / 1000

    def _websocket(self, subprotocol: str | None) -> web.WebSocketResponse:
        return web.WebSocketResponse(
            protocols=(subprotocol,) if subprotocol else (),
            compress=False,  # frames are encoded once and shared, so never per-connection deflate
            # aiohttp refuses a message of exactly max_msg_size; the service's limit is inclusive.
            max_msg_size=self.settings.max_message_bytes + 1,
            autoping=True,
            timeout=5.0,
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        hub_name = request.match_info.get("hub") or request.query.get("hub", "")
        if not HUB_NAME.match(hub_name):
            return web.Response(status=400, text="The hub name is invalid.")
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.Response(status=400, text="Expected a WebSocket upgrade request.")
        query = request.query
        if query.get("awps_connection_id") and query.get("awps_reconnection_token"):
            return await self._recover(request, hub_name)
        return await self._connect(request, hub_name)

    async def _connect(self, request: web.Request, hub_name: str) -> web.StreamResponse:
        token = request.query.get("access_token") or bearer_token(request)
        if not token:
            return web.Response(status=401, text="An access token is required.")
        try:
            claims = tokens.decode(token, self.settings.access_key)
            tokens.check_client_audience(claims, hub_name, self.hosts, self.settings.port)
        except tokens.TokenError as exc:
            logger.debug("handshake refused for hub %s: %s", hub_name, exc)
            return web.Response(status=401, text=str(exc))

        sub = claims.get("sub")
        user_id = sub if isinstance(sub, str) and sub else None
        roles = tokens.string_list(claims.get("role"))
        groups = [g for g in tokens.string_list(claims.get("webpubsub.group")) if protocol.valid_group_name(g)]
        requested = requested_subprotocols(request)
        subprotocol = next((p for p in requested if p in protocol.SERVICE_SUBPROTOCOLS), None)
        connection_id = new_connection_id()
        hub = self.registry.hub(hub_name)
        state: str | None = None

        handler = hub.hub_settings.handler_for_system("connect")
        if handler is not None:
            outcome = await self.upstream.connect(
                handler,
                hub=hub_name,
                connection_id=connection_id,
                user_id=user_id,
                claims=claims,
                query={k: request.query.getall(k) for k in request.query if k not in PRIVATE_QUERY},
                headers={
                    k: request.headers.getall(k) for k in request.headers if k.lower() not in PRIVATE_HEADERS
                },
                subprotocols=requested,
            )
            if not outcome.accepted:
                logger.debug("connect refused by upstream for %s: %s %s", connection_id, outcome.status, outcome.reason)
                return web.Response(status=outcome.status, text=outcome.reason or "The connection was refused.")
            if outcome.user_id is not None:
                user_id = outcome.user_id
            if outcome.roles is not None:
                roles = outcome.roles
            if outcome.groups is not None:
                groups = [g for g in outcome.groups if protocol.valid_group_name(g)]
            if outcome.subprotocol is not None:
                if outcome.subprotocol in requested:
                    subprotocol = outcome.subprotocol
                else:
                    logger.warning("connect answer chose subprotocol %r the client did not offer", outcome.subprotocol)
            if outcome.state_set:
                state = outcome.state

        ws = self._websocket(subprotocol)
        conn = Connection(hub, connection_id, user_id=user_id, roles=roles, subprotocol=subprotocol, state=state)
        try:
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            await ws.prepare(request)
        except BaseException:
            if handler is not None:
                # The service always sends `disconnected` once `connect` was accepted, even when
                # the handshake then fails: the handler may have counted the connection already.
                self.upstream.disconnected(conn, "The client left during the WebSocket handshake.")
            raise
        conn.attach(ws, request.transport)
        self.registry.open(conn, groups)
        if conn.mode is not Mode.PLAIN:
            conn.send_frame(protocol.connected_frame(conn.connection_id, conn.user_id, conn.reconnection_token))
        self.upstream.connected(conn)
        await self._serve(conn, ws)
        return ws

    async def _recover(self, request: web.Request, hub_name: str) -> web.StreamResponse:
        """A reliable client coming back: these parameters win over any (expired) access token."""
        requested = requested_subprotocols(request)
        reliable = protocol.JSON_RELIABLE_V1 in requested
        ws = self._websocket(protocol.JSON_RELIABLE_V1 if reliable else None)
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        await ws.prepare(request)
        conn = self.registry.resumable(
            hub_name, request.query["awps_connection_id"], request.query["awps_reconnection_token"]
        )
        if conn is None or not reliable:
            logger.debug("recovery of %s refused", request.query["awps_connection_id"])
            await ws.close(code=CLOSE_POLICY, message=b"The connection cannot be recovered.")
            return ws
        self.registry.resume(conn, ws, request.transport)
        await self._serve(conn, ws)
        return ws

    async def _serve(self, conn: Connection, ws: web.WebSocketResponse) -> None:
        clean_close = False
        error: BaseException | None = None
        try:
            while True:
                message = await ws.receive()
                if message.type is WSMsgType.TEXT or message.type is WSMsgType.BINARY:
                    if conn.ws is not ws or conn.closing_reason is not None:
                        break
                    await self._on_frame(conn, message.type, message.data)
                    continue
                if message.type is WSMsgType.CLOSE:
                    clean_close = True
                elif message.type is WSMsgType.ERROR:
                    error = ws.exception()
                break
        finally:
            if conn.close_task is not None and conn.ws is ws:
                # The service is closing this socket: let the close handshake finish before
                # the handler returns and aiohttp drops the transport.
                await asyncio.wait([conn.close_task])
            self._socket_ended(conn, ws, clean_close, error)

    def _socket_ended(
        self, conn: Connection, ws: web.WebSocketResponse, clean_close: bool, error: BaseException | None
    ) -> None:
        if conn.finished or (conn.ws is not None and conn.ws is not ws):
            return  # already gone, or a resumed socket took over
        if conn.closing_reason is not None:
            self.registry.finish(conn, conn.closing_reason)
        elif isinstance(error, WebSocketError):
            if error.code == 1009:
                reason = f"The client sent a message larger than {self.settings.max_message_bytes} bytes."
            else:
                reason = f"The client broke the WebSocket protocol: {error}"
            self.registry.finish(conn, reason)
        elif clean_close:
            self.registry.finish(conn, f"The client closed the connection (code {ws.close_code}).")
        elif conn.mode is Mode.RELIABLE and self.settings.reliable_grace_seconds > 0:
            self.registry.suspend(conn)
        else:
            self.registry.finish(conn, "The connection was lost.")

    # --- client messages -------------------------------------------------------------------
    async def _on_frame(self, conn: Connection, kind: WSMsgType, data: str | bytes) -> None:
        if conn.mode is Mode.PLAIN:
            self._plain_frame(conn, kind, data)
            return
        if kind is WSMsgType.BINARY:
            self.registry.close(conn, "Binary frames are not part of the JSON subprotocol.", CLOSE_POLICY)
            return
        try:
            message = protocol.parse_client_message(data)
        except protocol.MalformedFrame as exc:
            logger.debug("connection %s sent a malformed frame: %s", conn.connection_id, exc)
            self.registry.close(conn, f"Invalid message: {exc}", CLOSE_POLICY)
            return
        except protocol.InvalidMessage as exc:
            if exc.ack_id is not None:
                self._ack(conn, exc.ack_id, protocol.INVALID_DATA, exc.message)
            return
        try:
            await self._dispatch(conn, message)
        except Exception:
            # A bug here must cost one request, not the connection.
            logger.exception("message %r of connection %s failed", message.type, conn.connection_id)
            if message.ack_id is not None:
                conn.forget_ack_id(message.ack_id)
            self._ack(conn, message.ack_id, protocol.INTERNAL_SERVER_ERROR, "The service failed to process the message.")

    def _plain_frame(self, conn: Connection, kind: WSMsgType, data: str | bytes) -> None:
        """A client without subprotocol: every frame is the user event `message`."""
        handler = conn.hub.hub_settings.handler_for_user("message")
        if handler is None:
            return
        if kind is WSMsgType.TEXT:
            data_type, payload = "text", data.encode("utf-8")
        else:
            data_type, payload = "binary", bytes(data)

        async def job() -> None:
            outcome = await self.upstream.user_event(conn, handler, "message", data_type, payload)
            if outcome.ok and outcome.status == 200 and outcome.body:
                reply = protocol.OutboundMessage(reply_data_type(outcome.content_type, outcome.body), outcome.body)
                conn.deliver(reply)

        self.upstream.submit(conn, job)

    def _ack(self, conn: Connection, ack_id: int | None, error: str | None = None, message: str | None = None) -> None:
        if ack_id is None:
            return
        frame = protocol.ack_frame(ack_id, error, message)
        if self.latency > 0:
            asyncio.get_running_loop().call_later(self.latency, conn.send_frame, frame)
        else:
            conn.send_frame(frame)

    def _duplicate(self, conn: Connection, ack_id: int | None) -> bool:
        if ack_id is not None and conn.seen_ack_id(ack_id):
            self._ack(conn, ack_id, protocol.DUPLICATE, f"Message with ack-id: {ack_id} has been processed.")
            return True
        return False

    async def _dispatch(self, conn: Connection, message: protocol.ClientMessage) -> None:
        kind, ack_id, hub = message.type, message.ack_id, conn.hub
        if kind == "ping":
            conn.send_frame(protocol.PONG_FRAME)
        elif kind == "sequenceAck":
            if conn.mode is Mode.RELIABLE and message.sequence_id is not None:
                conn.acknowledge(message.sequence_id)
        elif kind in ("joinGroup", "leaveGroup"):
            group = message.group or ""
            if not conn.may("joinLeaveGroup", group):
                verb = "join" if kind == "joinGroup" else "leave"
                self._ack(conn, ack_id, protocol.FORBIDDEN, f"The connection has no permission to {verb} group '{group}'.")
            elif not self._duplicate(conn, ack_id):
                if ack_id is not None:
                    conn.remember_ack_id(ack_id)
                if kind == "joinGroup":
                    hub.join(conn, group)
                else:
                    hub.leave(conn, group)
                self._ack(conn, ack_id)
        elif kind == "sendToGroup":
            group = message.group or ""
            if not conn.may("sendToGroup", group):
                self._ack(conn, ack_id, protocol.FORBIDDEN, f"The connection has no permission to send to group '{group}'.")
            elif not self._duplicate(conn, ack_id):
                if ack_id is not None:
                    conn.remember_ack_id(ack_id)
                outbound = protocol.OutboundMessage(
                    message.data_type, message.payload, group=group, from_user_id=conn.user_id
                )
                excluded = (conn.connection_id,) if message.no_echo else ()
                await hub.deliver(hub.select(hub.group_members(group), excluded), outbound)
                self._ack(conn, ack_id)
        elif kind == "event":
            self._event(conn, message)
        elif ack_id is not None:
            self._ack(conn, ack_id, protocol.INVALID_DATA, f"Unknown message type '{kind}'.")
        else:
            logger.debug("connection %s sent unknown message type %r; ignored", conn.connection_id, kind)

    def _event(self, conn: Connection, message: protocol.ClientMessage) -> None:
        ack_id = message.ack_id
        if self._duplicate(conn, ack_id):
            return
        event = message.event or ""
        handler = conn.hub.hub_settings.handler_for_user(event)
        if handler is None:
            # No handler takes this event: the service drops it, and that is not an error.
            self._ack(conn, ack_id)
            return
        if ack_id is not None:
            conn.remember_ack_id(ack_id)

        async def job() -> None:
            outcome = await self.upstream.user_event(conn, handler, event, message.data_type, message.payload)
            if conn.finished:
                return
            if not outcome.ok:
                if ack_id is not None:
                    conn.forget_ack_id(ack_id)
                self._ack(conn, ack_id, protocol.INVOCATION_FAILED, outcome.reason)
                return
            if outcome.status == 200 and outcome.body:
                reply = protocol.OutboundMessage(reply_data_type(outcome.content_type, outcome.body), outcome.body)
                conn.deliver(reply)
            self._ack(conn, ack_id)

        self.upstream.submit(conn, job)
