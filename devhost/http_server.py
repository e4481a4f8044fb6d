"""HTTP triggers: an aiohttp server that routes requests to functions like the Functions host.

Routes live under host.json's `routePrefix`. A request becomes the same `HttpRequest` the
worker builds (headers and query values joined with commas as the host joins repeated
ones, route parameters from the template, the raw body as bytes), and the function's
`HttpResponse` becomes the reply, with the content type the worker derives from
`mimetype` and `charset`. A path no function serves, or a method no function accepts
there, is a 404 (never 405); a function that raises or times out is a 500 with no body.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import azure.functions as func
from aiohttp import HttpVersion11, web
from azure.functions import _abc as func_abc
from azure.functions.http import HttpRequest as WorkerHttpRequest
from multidict import CIMultiDict, MultiMapping

from devhost.cors import HostCors
from devhost.host_config import HttpOptions
from devhost.indexing import IndexedFunction
from devhost.invocation import Invoker
from devhost.route_table import RouteMatch, RouteTable, find_conflicts
from devhost.routing import RouteTemplate, RouteTemplateError, split_path

logger = logging.getLogger("devhost")

# The host's own request size limit (Kestrel's MaxRequestBodySize in the Functions host).
MAX_REQUEST_BYTES = 100 * 1024 * 1024
NOT_FOUND_BODY = json.dumps({"type": "about:blank", "title": "Not Found", "status": 404}).encode()
HOMEPAGE = (
    b"<!DOCTYPE html><html><head><title>Lectern local Functions host</title></head>"
    b"<body><p>Your Functions 4.0 app is up and running (local host).</p></body></html>"
)
# Framing headers are the server's business; a function cannot set them meaningfully.
_FRAMING_HEADERS = ("Content-Length", "Transfer-Encoding", "Connection")


def _joined(pairs: MultiMapping[str]) -> dict[str, str]:
    # The host hands repeated headers and query keys over as one comma-joined value.
    values: dict[str, str] = {}
    for key, value in pairs.items():
        values[key] = f"{values[key]},{value}" if key in values else value
    return values


def build_request(request: web.BaseRequest, body: bytes, route_params: dict[str, str]) -> func.HttpRequest:
    """The `HttpRequest` the Python worker would hand the function for this request."""
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        name = key.lower()
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    # As Azure's front end does: the connection's own address goes last in X-Forwarded-For,
    # where a client cannot forge it (the app reads the caller's address from the right).
    if request.remote:
        forwarded = headers.get("x-forwarded-for")
        headers["x-forwarded-for"] = f"{forwarded}, {request.remote}" if forwarded else request.remote
    return WorkerHttpRequest(
        method=request.method,
        url=str(request.url),
        headers=headers,
        params=_joined(request.query),
        route_params=route_params,
        body_type="bytes",
        body=body,
    )


def build_response(value: Any) -> web.Response:
    """Turns what an HTTP function produced into the reply, as the worker's converter does."""
    if isinstance(value, func_abc.HttpResponse):
        headers: CIMultiDict[str] = CIMultiDict()
        for name, header_value in value.headers.items():
            headers.add(name, header_value)
        if "Content-Type" not in headers:
            mimetype = value.mimetype
            headers["Content-Type"] = f"{mimetype}; charset={value.charset}" if mimetype.startswith("text/") else mimetype
        for name in _FRAMING_HEADERS:
            headers.popall(name, None)
        status = int(value.status_code)
        body = value.get_body() or b""
        if status in (204, 304):
            headers.popall("Content-Type", None)
            body = b""
        return web.Response(status=status, body=body, headers=headers)
    if isinstance(value, str):
        return web.Response(status=200, body=value.encode("utf-8"), headers={"Content-Type": "text/plain; charset=utf-8"})
    if value is None:
        return web.Response(status=204)
    raise TypeError(f"an HTTP function must return func.HttpResponse or str, not {type(value).__name__}")


def not_found() -> web.Response:
    return web.Response(status=404, body=NOT_FOUND_BODY, headers={"Content-Type": "application/problem+json"})


class HttpFrontEnd:
    """Serves every HTTP-triggered function of the app."""

    def __init__(self, functions: list[IndexedFunction], invoker: Invoker, options: HttpOptions, cors: HostCors) -> None:
        self.functions = functions
        self.invoker = invoker
        self.options = options
        self.cors = cors
        self.prefix = split_path(options.route_prefix)
        routes = []
        for function in functions:
            template = str(function.trigger.get("route") or function.name)
            try:
                RouteTemplate.parse(template)
            except RouteTemplateError as exc:
                raise RouteTemplateError(f"function '{function.name}': {exc}") from None
            routes.append((template, function.trigger.get("methods"), function))
        self.table: RouteTable[IndexedFunction] = RouteTable(routes)
        for first, second in find_conflicts(self.table):
            logger.warning(
                "Functions '%s' and '%s' share the route '%s' for the same methods; requests go to '%s'",
                first.target.name, second.target.name, first.template.text, first.target.name,
            )
        self._limit = asyncio.Semaphore(options.max_concurrent_requests) if options.max_concurrent_requests else None
        self._outstanding = 0
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def describe(self) -> list[str]:
        """One line per function for the startup listing, like Core Tools prints."""
        lines = []
        for function in self.functions:
            route = "/".join(s for s in (self.options.route_prefix, str(function.trigger.get("route") or function.name)) if s)
            methods = ",".join(function.trigger.get("methods") or ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"])
            lines.append(f"{function.name}: [{methods}] {self.base_url}/{route}")
        return lines

    async def start(self, host: str, port: int) -> None:
        # aiohttp's low-level server: the route table below is the only router, so an
        # Application's own dispatcher and middleware chain would be work done twice per request.
        server = web.Server(self.handle, request_factory=self._request_factory, access_log=None)
        self._runner = web.ServerRunner(server, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, backlog=1024, reuse_address=True)
        await site.start()
        self.base_url = f"http://{host}:{port}"

    @staticmethod
    def _request_factory(
        message: Any, payload: Any, protocol: Any, writer: Any, task: asyncio.Task[None]
    ) -> web.BaseRequest:
        return web.BaseRequest(
            message, payload, protocol, writer, task, asyncio.get_running_loop(), client_max_size=MAX_REQUEST_BYTES
        )

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        segments = split_path(request.raw_path)
        origin = request.headers.get("Origin")
        if request.method in ("GET", "HEAD") and not segments and self.prefix:
            return web.Response(body=HOMEPAGE, content_type="text/html")
        if [s.lower() for s in segments[: len(self.prefix)]] != [p.lower() for p in self.prefix]:
            return self._unrouted(request, origin)
        match = self.table.resolve(request.method, segments[len(self.prefix) :])
        if match is None:
            return self._unrouted(request, origin)
        limit = self.options.max_outstanding_requests
        if limit is not None and self._outstanding >= limit:
            return web.Response(status=429)
        self._outstanding += 1
        try:
            if self._limit is None:
                response = await self._invoke(request, match)
            else:
                async with self._limit:
                    response = await self._invoke(request, match)
        finally:
            self._outstanding -= 1
        if self.cors.enabled:
            self.cors.decorate(response.headers, origin)  # type: ignore[arg-type]
        return response

    def _unrouted(self, request: web.BaseRequest, origin: str | None) -> web.Response:
        method = request.headers.get("Access-Control-Request-Method")
        if request.method == "OPTIONS" and method and origin and self.cors.allows(origin):
            headers = self.cors.preflight_headers(origin, method, request.headers.get("Access-Control-Request-Headers"))
            return web.Response(status=204, headers=headers)
        return not_found()

    async def _invoke(self, request: web.BaseRequest, match: RouteMatch[IndexedFunction]) -> web.Response:
        function = match.route.target
        if request.headers.get("Expect", "").lower() == "100-continue" and request.version == HttpVersion11:
            # What an Application's route would do before the body is read (clients such as
            # curl wait for it before sending a large body).
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0
        body = await request.read()
        http_request = build_request(request, body, match.params)
        result = await self.invoker.invoke(
            function,
            {function.trigger_name: http_request},
            reason="This function was programmatically called via the host APIs.",
        )
        if not result.succeeded:
            return web.Response(status=500)
        try:
            return build_response(self._response_value(function, result.value, result.outputs))
        except (TypeError, ValueError) as exc:
            logger.error("Functions.%s: %s", function.name, exc)
            return web.Response(status=500)

    @staticmethod
    def _response_value(function: IndexedFunction, returned: Any, outputs: dict[str, Any]) -> Any:
        if function.return_binding is not None and function.return_binding.get("type") == "http":
            return returned
        for binding in function.output_bindings:
            if binding.get("type") == "http":
                return outputs.get(str(binding["name"]))
        return None
