"""The REST data plane under `/api/hubs/{hub}`, as `azure-messaging-webpubsubservice` calls it.

Every call carries a JWT the SDK signs with the access key for the exact request URL. Sends
answer 202 once the message is written to every target socket, so two sends made one after
the other arrive in that order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from localpubsub import protocol, tokens
from localpubsub.client_endpoint import HUB_NAME, bearer_token
from localpubsub.config import Settings
from localpubsub.connections import Connection, Hub, Registry
from localpubsub.odata_filter import Filter, FilterError, parse_filter

logger = logging.getLogger("localpubsub.rest")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PERMISSIONS = {"sendtogroup": "sendToGroup", "joinleavegroup": "joinLeaveGroup"}
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 200


def problem(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


class RequestError(Exception):
    """A client mistake, answered with a 4xx (the SDK retries 5xx, so never those)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _group_name(request: web.Request) -> str:
    group = request.match_info["group"]
    if not protocol.valid_group_name(group):
        raise RequestError(400, "InvalidGroupName", "The group name must be 1 to 1024 characters and not blank.")
    return group


def _int_query(request: web.Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RequestError(400, "InvalidQuery", f"'{name}' must be an integer.") from None
    if not low <= value <= high:
        raise RequestError(400, "InvalidQuery", f"'{name}' must be between {low} and {high}.")
    return value


def _filter(request: web.Request) -> Filter | None:
    text = request.query.get("filter")
    if not text:
        return None
    try:
        return parse_filter(text)
    except FilterError as exc:
        raise RequestError(400, "InvalidFilter", f"Invalid filter: {exc}") from None


class RestApi:
    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self.hosts = tokens.accepted_hosts(settings.host)

    # --- plumbing ----------------------------------------------------------------------------
    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Authenticate `/api/hubs/...` calls and turn RequestErrors into problem answers."""
        if request.path.startswith("/api/hubs/"):
            token = bearer_token(request)
            if token is None:
                return self._error(request, RequestError(401, "Unauthorized", "A bearer token is required."))
            try:
                claims = tokens.decode(token, self.settings.access_key)
                tokens.check_request_audience(
                    claims, request.rel_url.raw_path, request.rel_url.raw_query_string, self.hosts, self.settings.port
                )
            except tokens.TokenError as exc:
                logger.debug("REST %s %s refused: %s", request.method, request.path, exc)
                return self._error(request, RequestError(401, "Unauthorized", str(exc)))
            if not request.query.get("api-version"):
                return self._error(request, RequestError(400, "MissingApiVersion", "The 'api-version' query parameter is required."))
            if not HUB_NAME.match(request.match_info.get("hub", "")):
                return self._error(request, RequestError(400, "InvalidHubName", "The hub name is invalid."))
        try:
            return await handler(request)
        except RequestError as exc:
            return self._error(request, exc)

    @staticmethod
    def _error(request: web.Request, error: RequestError) -> web.Response:
        if request.method == "HEAD":
            return web.Response(status=error.status)
        return problem(error.status, error.code, error.message)

    def routes(self) -> list[web.RouteDef]:
        hub = "/api/hubs/{hub}"
        return [
            web.get("/api/health", self.health),  # HEAD comes with GET
            web.post(f"{hub}/:send", self.send_to_all),
            web.post(f"{hub}/:closeConnections", self.close_all_connections),
            web.post(f"{hub}/:generateToken", self.generate_token),
            web.post(f"{hub}/:addToGroups", self.add_to_groups),
            web.post(f"{hub}/:removeFromGroups", self.remove_from_groups),
            web.head(f"{hub}/connections/{{connectionId}}", self.connection_exists),
            web.delete(f"{hub}/connections/{{connectionId}}", self.close_connection),
            web.post(f"{hub}/connections/{{connectionId}}/:send", self.send_to_connection),
            web.delete(f"{hub}/connections/{{connectionId}}/groups", self.remove_connection_from_all_groups),
            web.head(f"{hub}/groups/{{group}}", self.group_exists),
            web.post(f"{hub}/groups/{{group}}/:send", self.send_to_group),
            web.post(f"{hub}/groups/{{group}}/:closeConnections", self.close_group_connections),
            web.get(f"{hub}/groups/{{group}}/connections", self.list_connections, allow_head=False),
            web.put(f"{hub}/groups/{{group}}/connections/{{connectionId}}", self.add_connection_to_group),
            web.delete(f"{hub}/groups/{{group}}/connections/{{connectionId}}", self.remove_connection_from_group),
            web.head(f"{hub}/permissions/{{permission}}/connections/{{connectionId}}", self.has_permission),
            web.put(f"{hub}/permissions/{{permission}}/connections/{{connectionId}}", self.grant_permission),
            web.delete(f"{hub}/permissions/{{permission}}/connections/{{connectionId}}", self.revoke_permission),
            web.head(f"{hub}/users/{{userId}}", self.user_exists),
            web.post(f"{hub}/users/{{userId}}/:send", self.send_to_user),
            web.post(f"{hub}/users/{{userId}}/:closeConnections", self.close_user_connections),
            web.delete(f"{hub}/users/{{userId}}/groups", self.remove_user_from_all_groups),
            web.put(f"{hub}/users/{{userId}}/groups/{{group}}", self.add_user_to_group),
            web.delete(f"{hub}/users/{{userId}}/groups/{{group}}", self.remove_user_from_group),
        ]

    def _hub(self, request: web.Request) -> Hub | None:
        """The hub if it has ever had a connection; most operations on an unknown hub are no-ops."""
        return self.registry.hubs.get(request.match_info["hub"])

    def _connection(self, request: web.Request) -> Connection | None:
        hub = self._hub(request)
        return None if hub is None else hub.connections.get(request.match_info["connectionId"])

    async def _message(self, request: web.Request) -> protocol.OutboundMessage:
        """The body as a message, its dataType taken from the Content-Type."""
        if request.content_length is not None and request.content_length > self.settings.max_message_bytes:
            raise RequestError(413, "PayloadTooLarge", f"The message exceeds {self.settings.max_message_bytes} bytes.")
        data_type = protocol.data_type_of(request.headers.get("Content-Type", "application/octet-stream"))
        if data_type is None:
            raise RequestError(
                415, "UnsupportedMediaType",
                "Content-Type must be application/json, text/plain or application/octet-stream.",
            )
        body = await request.read()
        if len(body) > self.settings.max_message_bytes:
            raise RequestError(413, "PayloadTooLarge", f"The message exceeds {self.settings.max_message_bytes} bytes.")
        if data_type in ("json", "text"):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise RequestError(400, "InvalidBody", "The body is not UTF-8 text.") from None
            if data_type == "json":
                try:
                    json.loads(text)
                except ValueError:
                    raise RequestError(400, "InvalidBody", "The body is not valid JSON.") from None
        _int_query(request, "messageTtlSeconds", None, 0, 300)
        return protocol.OutboundMessage(data_type, body)

    async def _send(self, request: web.Request, candidates: Callable[[Hub], Iterable[Connection]]) -> web.Response:
        message = await self._message(request)
        where = _filter(request)
        hub = self._hub(request)
        if hub is not None:
            targets = hub.select(candidates(hub), request.query.getall("excluded", []), where)
            await hub.deliver(targets, message)
            logger.debug("REST send to %d connections of hub %s (%s, %d bytes)", len(targets), hub.name, message.data_type, message.size)
        return web.Response(status=202)

    def _close(self, request: web.Request, candidates: Callable[[Hub], Iterable[Connection]]) -> web.Response:
        hub = self._hub(request)
        if hub is not None:
            reason = request.query.get("reason")
            for conn in hub.select(candidates(hub), request.query.getall("excluded", [])):
                self.registry.close(conn, reason)
        return web.Response(status=204)

    # --- health ------------------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        if request.method == "HEAD":
            return web.Response(status=200)
        return web.json_response({"status": "ok", "connections": self.registry.connection_count})

    # --- sends -------------------------------------------------------------------------------
    async def send_to_all(self, request: web.Request) -> web.Response:
        return await self._send(request, lambda hub: hub.connections.values())

    async def send_to_group(self, request: web.Request) -> web.Response:
        group = _group_name(request)
        return await self._send(request, lambda hub: hub.group_members(group))

    async def send_to_user(self, request: web.Request) -> web.Response:
        user_id = request.match_info["userId"]
        return await self._send(request, lambda hub: hub.user_connections(user_id))

    async def send_to_connection(self, request: web.Request) -> web.Response:
        connection_id = request.match_info["connectionId"]

        def candidates(hub: Hub) -> Iterable[Connection]:
            conn = hub.connections.get(connection_id)
            return () if conn is None else (conn,)

        return await self._send(request, candidates)

    # --- closing -----------------------------------------------------------------------------
    async def close_all_connections(self, request: web.Request) -> web.Response:
        return self._close(request, lambda hub: hub.connections.values())

    async def close_group_connections(self, request: web.Request) -> web.Response:
        group = _group_name(request)
        return self._close(request, lambda hub: hub.group_members(group))

    async def close_user_connections(self, request: web.Request) -> web.Response:
        user_id = request.match_info["userId"]
        return self._close(request, lambda hub: hub.user_connections(user_id))

    async def close_connection(self, request: web.Request) -> web.Response:
        conn = self._connection(request)
        if conn is not None:
            self.registry.close(conn, request.query.get("reason"))
        return web.Response(status=204)

    # --- existence ---------------------------------------------------------------------------
    async def connection_exists(self, request: web.Request) -> web.Response:
        return web.Response(status=200 if self._connection(request) is not None else 404)

    async def group_exists(self, request: web.Request) -> web.Response:
        group = _group_name(request)
        hub = self._hub(request)
        return web.Response(status=200 if hub is not None and group in hub.groups else 404)

    async def user_exists(self, request: web.Request) -> web.Response:
        hub = self._hub(request)
        return web.Response(status=200 if hub is not None and request.match_info["userId"] in hub.users else 404)

    # --- groups ------------------------------------------------------------------------------
    async def add_connection_to_group(self, request: web.Request) -> web.Response:
        group = _group_name(request)
        conn = self._connection(request)
        if conn is None:
            raise RequestError(404, "NotFound", "The connection does not exist.")
        conn.hub.join(conn, group)
        return web.Response(status=200)

    async def remove_connection_from_group(self, request: web.Request) -> web.Response:
        group = _group_name(request)
        conn = self._connection(request)
        if conn is not None:
            conn.hub.leave(conn, group)
        return web.Response(status=204)

    async def remove_connection_from_all_groups(self, request: web.Request) -> web.Response:
        conn = self._connection(request)
        if conn is not None:
            conn.hub.leave_all(conn)
        return web.Response(status=204)

    async def add_user_to_group(self, request: web.Request) -> web.Response:
        group = _group_name(request)
        self.registry.hub(request.match_info["hub"]).add_user_to_group(request.match_info["userId"], group)
        return web.Response(status=200)

    async def remove_user_from_group(self, request: web.Request) -> web.Response:
        group = _group_name(request)
        hub = self._hub(request)
        if hub is not None:
            hub.remove_user_from_group(request.match_info["userId"], group)
        return web.Response(status=204)

    async def remove_user_from_all_groups(self, request: web.Request) -> web.Response:
        hub = self._hub(request)
        if hub is not None:
            hub.remove_user_from_all_groups(request.match_info["userId"])
        return web.Response(status=204)

    async def _groups_request(self, request: web.Request) -> tuple[list[str], Filter | None]:
        if request.content_type != "application/json":
            raise RequestError(415, "UnsupportedMediaType", "The body must be application/json.")
        try:
            body = json.loads(await request.read())
        except ValueError:
            raise RequestError(400, "InvalidBody", "The body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise RequestError(400, "InvalidBody", "The body must be an object with 'groups' and 'filter'.")
        groups = body.get("groups")
        if not isinstance(groups, list) or not groups or not all(protocol.valid_group_name(g) for g in groups):
            raise RequestError(400, "InvalidBody", "'groups' must be a non-empty list of group names.")
        text = body.get("filter")
        if text is not None and not isinstance(text, str):
            raise RequestError(400, "InvalidBody", "'filter' must be a string.")
        try:
            where = parse_filter(text) if text else None
        except FilterError as exc:
            raise RequestError(400, "InvalidFilter", f"Invalid filter: {exc}") from None
        return groups, where

    async def add_to_groups(self, request: web.Request) -> web.Response:
        groups, where = await self._groups_request(request)
        hub = self._hub(request)
        if hub is not None:
            for conn in hub.select(hub.connections.values(), (), where):
                for group in groups:
                    hub.join(conn, group)
        return web.Response(status=200)

    async def remove_from_groups(self, request: web.Request) -> web.Response:
        groups, where = await self._groups_request(request)
        hub = self._hub(request)
        if hub is not None:
            for conn in hub.select(hub.connections.values(), (), where):
                for group in groups:
                    hub.leave(conn, group)
        return web.Response(status=200)

    async def list_connections(self, request: web.Request) -> web.Response:
        """Members of a group, a page at a time; the continuation token is the last connection
        id of the previous page, so paging survives members coming and going."""
        group = _group_name(request)
        page_size = _int_query(request, "maxpagesize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        top = _int_query(request, "top", None, 1, 2**31 - 1)
        after = request.query.get("continuationToken", "")
        hub = self._hub(request)
        members = sorted(
            (c for c in (hub.group_members(group) if hub is not None else ()) if c.connection_id > after),
            key=lambda c: c.connection_id,
        )
        assert page_size is not None
        size = page_size if top is None else min(page_size, top)
        page = members[:size]
        body: dict[str, object] = {
            "value": [{"connectionId": c.connection_id, "userId": c.user_id} for c in page]
        }
        remaining = None if top is None else top - len(page)
        if len(members) > len(page) and (remaining is None or remaining > 0):
            query = {"maxpagesize": str(page_size), "continuationToken": page[-1].connection_id}
            if remaining is not None:
                query["top"] = str(remaining)
            next_url = request.rel_url.with_query(query)
            body["nextLink"] = str(next_url)
        return web.json_response(body)

    # --- permissions -------------------------------------------------------------------------
    def _role(self, request: web.Request) -> str:
        permission = PERMISSIONS.get(request.match_info["permission"].lower())
        if permission is None:
            raise RequestError(400, "InvalidPermission", "The permission must be sendToGroup or joinLeaveGroup.")
        target = request.query.get("targetName")
        return f"webpubsub.{permission}" + (f".{target}" if target else "")

    async def grant_permission(self, request: web.Request) -> web.Response:
        role = self._role(request)
        conn = self._connection(request)
        if conn is None:
            raise RequestError(404, "NotFound", "The connection does not exist.")
        conn.roles.add(role)
        return web.Response(status=200)

    async def revoke_permission(self, request: web.Request) -> web.Response:
        role = self._role(request)
        conn = self._connection(request)
        if conn is not None:
            conn.roles.discard(role)
        return web.Response(status=204)

    async def has_permission(self, request: web.Request) -> web.Response:
        role = self._role(request)
        conn = self._connection(request)
        if conn is None:
            return web.Response(status=404)
        permission = PERMISSIONS[request.match_info["permission"].lower()]
        granted = role in conn.roles or f"webpubsub.{permission}" in conn.roles
        return web.Response(status=200 if granted else 404)

    # --- tokens ------------------------------------------------------------------------------
    async def generate_token(self, request: web.Request) -> web.Response:
        client_type = request.query.get("clientType", "Default")
        if client_type.lower() != "default":
            raise RequestError(400, "UnsupportedClientType", "Only the Default client type is served here.")
        minutes = _int_query(request, "minutesToExpire", 60, 1, 2**31 - 1)
        assert minutes is not None
        host = self.settings.host_name.lower()
        audience = f"http://{host}:{self.settings.port}/client/hubs/{request.match_info['hub']}"
        token = tokens.issue_client_token(
            self.settings.access_key,
            audience,
            user_id=request.query.get("userId") or None,
            roles=request.query.getall("role", []),
            groups=request.query.getall("group", []),
            minutes_to_expire=minutes,
        )
        return web.json_response({"token": token})
