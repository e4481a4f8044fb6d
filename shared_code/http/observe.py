"""The outermost layer of every endpoint: binds what the invocation is to the log context
(invocation id, trace, operation, the class or course its route names; `callers` adds the
user once known), and, when tracing is on, wraps it in a server span whose children are the
PostgreSQL, Redis and Azure SDK calls it makes. With telemetry off this costs one context
variable set and reset per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import azure.functions as func
from opentelemetry.trace import SpanKind

from shared_code import logs, metrics, telemetry

Handler = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]
ObservedHandler = Callable[..., Awaitable[func.HttpResponse]]


def observed(name: str, route: str, handler: Handler) -> ObservedHandler:
    """`handler` as the function the host calls. It takes the worker's `context` (for the
    invocation id) beside the request; callers that pass only the request still work."""
    http_route = "/api/" + route

    async def invoke(req: func.HttpRequest, context: func.Context | None = None) -> func.HttpResponse:
        params = req.route_params
        parent = req.headers.get("traceparent")
        token = logs.start(logs.LogFields(
            invocation_id=context.invocation_id if context is not None else None,
            trace_id=telemetry.trace_id_of(parent) if parent else None,
            operation=name,
            class_id=params.get("classId"),
            course_id=params.get("courseId"),
        ))
        try:
            if not telemetry.tracing():
                return await handler(req)
            method = req.method.upper()
            attributes = {"http.request.method": method, "http.route": http_route, "lectern.operation": name}
            with telemetry.span(f"{method} {http_route}", kind=SpanKind.SERVER, parent=parent,
                                attributes=attributes) as span:
                resp = await handler(req)
                telemetry.finish_http(span, resp.status_code)
            metrics.http_request(name, resp.status_code)
            return resp
        finally:
            logs.reset(token)

    invoke.__name__ = handler.__name__
    invoke.__qualname__ = handler.__qualname__
    invoke.__module__ = handler.__module__
    invoke.__doc__ = handler.__doc__
    return invoke
