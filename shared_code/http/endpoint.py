"""The `endpoint` decorator: one declaration per HTTP operation of route, methods, OpenAPI
description, and who may call it (roles and relation).

The function the host indexes keeps the `(req)` signature the Functions worker binds; the
handler written under the decorator takes `(req, call)`, where `call` (`callers.Call`)
already holds the context, the verified caller and the access the declared relation found.
Around it, from the outside in: the log context and, when tracing is on, the request's span
(`observe.observed`), problem+json for anything raised (`problems.guarded`), the
per-address limit for anonymous endpoints, idempotent replay (`idempotency`), then the
caller check (`callers.resolve`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
from pydantic import BaseModel

from shared_code import logs
from shared_code.errors import NotFound
from shared_code.http.callers import Call, Limit, Relation, field_named, resolve
from shared_code.http.idempotency import with_idempotency
from shared_code.http.limits import with_ip_limit
from shared_code.http.observe import observed
from shared_code.http.parsing import READ_METHODS
from shared_code.http.problems import guarded
from shared_code.settings import get_settings

Handler = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]
CallHandler = Callable[[func.HttpRequest, Call], Awaitable[func.HttpResponse]]


@dataclass(frozen=True)
class Operation:
    """One HTTP operation, as OpenAPI publishes it."""

    name: str
    route: str
    methods: tuple[str, ...]
    summary: str
    tag: str
    request: type[BaseModel] | None = None
    response: Any = None
    status: int = 200
    query: type[BaseModel] | None = None
    auth: bool = True
    roles: tuple[str, ...] = ()
    errors: tuple[int, ...] = ()
    idempotent_key: bool = False
    also: tuple[int, ...] = ()
    extra_headers: dict[str, str] = field(default_factory=dict)
    rate_limited: bool = False
    relation: str | None = None  # the relation the caller must hold, as the API reference words it
    relation_param: str | None = None  # the id the relation is to (`courseId`, `lessonId`, ...)
    relation_source: str | None = None  # where that id is read: "route", "body" or "query"

    @property
    def who_may_call(self) -> str:
        """The sentence the OpenAPI document gives each operation."""
        if not self.auth:
            return "anyone (no token)"
        roles = ", ".join(self.roles) if self.roles else "any"
        if self.relation is None:
            if not self.roles:
                return "any signed-in caller"
            return f"a signed-in caller with {'one of the roles' if len(self.roles) > 1 else 'the role'} {roles}"
        where = {"route": "path", "body": "request body"}.get(self.relation_source or "", self.relation_source)
        return f"{self.relation} (the relation to the `{self.relation_param}` in the {where}; roles: {roles})"


OPERATIONS: list[Operation] = []


def _with_caller(
    handler: CallHandler,
    *,
    auth: bool,
    roles: tuple[str, ...],
    relation: Relation | None,
    limits: tuple[Limit, ...],
    request: type[BaseModel] | None,
    query: type[BaseModel] | None,
) -> Handler:
    """The `(req)` function the host calls: resolves the `Call`, then runs the handler.

    Deliberately not `functools.wraps`: that would set `__wrapped__`, and the worker (like
    the local host) reads the signature through it and would look for a `call` binding.
    """

    async def run(req: func.HttpRequest) -> func.HttpResponse:
        call = await resolve(
            req, auth=auth, roles=roles, relation=relation, limits=limits, request=request, query_model=query
        )
        if call.caller is not None:
            logs.bind(user_id=call.caller.user_id)  # hashed when written; reset by `observed`
        return await handler(req, call)

    run.__name__ = handler.__name__
    run.__qualname__ = handler.__qualname__
    run.__module__ = handler.__module__
    run.__doc__ = handler.__doc__
    return run


def endpoint(
    bp: func.Blueprint,
    route: str,
    methods: list[str] | tuple[str, ...],
    *,
    summary: str,
    tag: str,
    request: type[BaseModel] | None = None,
    response: Any = None,
    status: int = 200,
    query: type[BaseModel] | None = None,
    auth: bool = True,
    roles: tuple[str, ...] = (),
    relation: Relation | None = None,
    limits: tuple[Limit, ...] = (),
    errors: tuple[int, ...] = (),
    idempotent_key: bool = False,
    idempotency_in_service: bool = False,
    also: tuple[int, ...] = (),
    limit_ip_writes: bool = True,
    development_only: bool = False,
) -> Callable[[CallHandler], Any]:
    """Registers an HTTP-triggered function and its OpenAPI description in one place.

    Who may call: `auth=False` for anyone (the handler checks a signature if it needs
    one); otherwise a signed-in caller holding one of `roles` (none: any role) and, when
    `relation` is given, that relation to the course or class the route names. Both are
    checked before the handler runs. An endpoint with a relation and no `roles` is listed
    with the roles that can hold the relation. `limits` are rates of the endpoint's own
    (`callers.Limit`), counted after the caller is known and before the relation is looked up.

    A relation made with `callers.in_body` / `callers.in_query` reads its id from the
    `request` / `query` model (which must have that field); the handler then finds the
    parsed model on `call.body` / `call.query`.

    `idempotent_key=True` makes the endpoint honour `Idempotency-Key` generically;
    `idempotency_in_service=True` only documents the header, for services that commit the
    key in their own transaction (`platform.idempotency.run_once`). `also` lists other
    success statuses the endpoint answers with the same body (e.g. 200 for a repeat).

    Requests are rate-limited, reads and writes apart: signed-in ones per user and per
    address (in `callers.authenticate`), anonymous ones (`auth=False`) per address here.
    `limit_ip_writes=False` is for callers that speak for many users from one address (the
    Web PubSub service's event calls and handshakes, which are limited per user instead).

    `development_only=True` registers the endpoint only in development and test: anywhere
    else the host never hears of it (a 404, and absent from the OpenAPI document).
    """

    def register(handler: CallHandler) -> Any:
        if development_only and not get_settings().is_development:
            return handler
        name = handler.__name__
        if relation is not None and relation.source != "route":
            model = request if relation.source == "body" else query
            if model is None:
                raise TypeError(f"{name}: a relation read from the {relation.source} needs its model declared")
            field_named(model, relation.param)
        writes = any(m.upper() not in READ_METHODS for m in methods)
        ip_limited = not auth and limit_ip_writes
        OPERATIONS.append(
            Operation(
                name=name,
                route=route,
                methods=tuple(m.upper() for m in methods),
                summary=summary,
                tag=tag,
                request=request,
                response=response,
                status=status,
                query=query,
                auth=auth,
                roles=roles or (relation.roles if relation is not None else ()),
                errors=errors,
                idempotent_key=idempotent_key or idempotency_in_service,
                also=also,
                rate_limited=auth or ip_limited,
                relation=relation.name if relation is not None else None,
                relation_param=relation.param if relation is not None else None,
                relation_source=relation.source if relation is not None else None,
            )
        )
        inner = _with_caller(
            handler, auth=auth, roles=roles, relation=relation, limits=limits, request=request, query=query
        )
        if idempotent_key:
            inner = with_idempotency(name, inner)
        if ip_limited:
            inner = with_ip_limit(inner, reads=not writes)
        wrapped = observed(name, route, guarded(name, inner))
        return bp.route(route=route, methods=list(methods), auth_level=func.AuthLevel.ANONYMOUS)(wrapped)

    return register


# OPTIONS is left to the host: a preflight no function takes is the host's CORS answer.
UNKNOWN_PATH_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def register_unknown_paths(bp: func.Blueprint) -> None:
    """Answers every path under the route prefix that no function serves (and methods a
    path does not take) with the app's own problem+json 404 and security headers: the
    host's bare 404 carries neither. A catch-all template has the lowest precedence, so
    every real route still wins.
    """

    async def unknown_path(req: func.HttpRequest) -> func.HttpResponse:
        raise NotFound(f"Nothing here answers {req.method.upper()} at this path.")

    bp.route(route="{*path}", methods=list(UNKNOWN_PATH_METHODS), auth_level=func.AuthLevel.ANONYMOUS)(
        guarded("unknown_path", unknown_path)
    )
