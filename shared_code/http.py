"""What every HTTP handler shares: the `endpoint` decorator, body and query parsing, responses.

`endpoint` registers the function with the Functions host (`bp.route`), records the
operation for OpenAPI, and turns every error into problem+json, so a handler body is only
parse → authorise → one service call → response.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, TypeVar

import azure.functions as func
import psycopg
import psycopg_pool
import redis.exceptions
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from pydantic import BaseModel, ValidationError
from redis.exceptions import RedisError

from shared_code import problems
from shared_code.auth import Principal, bearer_token, require_role
from shared_code.bootstrap import get_context
from shared_code.json_limits import too_deep
from shared_code.errors import (
    BadRequest,
    FieldError,
    LecternError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    UnsupportedMediaType,
    ValidationFailed,
)
from shared_code.platform import idempotency, users
from shared_code.settings import get_settings

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]

logger = logging.getLogger("lectern.http")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    # Platform CORS (siteConfig.cors, Host.CORS) cannot name exposed headers; without this a browser hides them.
    "Access-Control-Expose-Headers": "Retry-After, Idempotent-Replayed, Location",
}


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


OPERATIONS: list[Operation] = []


def _dependency_down(exc: BaseException) -> bool:
    """True for the errors that mean a store is unreachable, not that the request is bad."""
    return isinstance(
        exc,
        (
            psycopg.OperationalError,
            psycopg_pool.PoolTimeout,
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            ServiceRequestError,
            ServiceResponseError,
            asyncio.TimeoutError,
            ConnectionError,
        ),
    )


def finish(req: func.HttpRequest, resp: func.HttpResponse) -> func.HttpResponse:
    """Adds the security headers every response carries. CORS is the host's: the platform
    in Azure (siteConfig.cors) and Host.CORS locally answer it, preflights included, from
    the same allow-list, so the app adds no CORS headers that would be sent twice."""
    for name, value in SECURITY_HEADERS.items():
        if name not in resp.headers:
            resp.headers[name] = value
    return resp


def guarded(name: str, handler: Handler) -> Handler:
    """Runs a handler and maps whatever it raises to a problem+json response."""

    @functools.wraps(handler)
    async def run(req: func.HttpRequest) -> func.HttpResponse:
        started = time.perf_counter()
        try:
            resp = await handler(req)
        except LecternError as exc:
            resp = problems.from_error(exc)
        except Exception as exc:  # noqa: BLE001 - the one place that catches everything
            if _dependency_down(exc):
                logger.warning("dependency unavailable in %s: %s", name, type(exc).__name__)
                resp = problems.from_error(
                    ServiceUnavailable("A service this request needs is unavailable; retry shortly.", retry_after=5)
                )
            else:
                resp = problems.internal_error(exc, function=name)
        if resp.status_code >= 500:
            logger.warning("%s answered %s in %.1f ms", name, resp.status_code, (time.perf_counter() - started) * 1000)
        return finish(req, resp)

    return run


def with_idempotency(name: str, handler: Handler) -> Handler:
    """Honours `Idempotency-Key`: a repeat with the same key and body gets the first
    response again; the same key with another body is a 409."""
    @functools.wraps(handler)
    async def run(req: func.HttpRequest) -> func.HttpResponse:
        key = idempotency.check_key(header(req, "idempotency-key"), required=False)
        if key is None:
            return await handler(req)
        # Only who is asking: the handler itself checks roles and counts the rate.
        ctx = await get_context()
        principal = await ctx.tokens.verify(bearer_token(req.headers))
        scope = f"{req.method} {name} {json.dumps(dict(req.route_params), sort_keys=True)}"
        body = (req.get_body() or b"").decode("utf-8", "replace")
        previous = await idempotency.replay_or_claim(ctx, user_id=principal.user_id, scope=scope, key=key, body=body)
        if previous is not None:
            resp = respond(previous.body, status=previous.status)
            resp.headers["Idempotent-Replayed"] = "true"
            return resp
        resp: func.HttpResponse | None = None
        try:
            resp = await handler(req)
            return resp
        finally:
            stored = None
            if resp is not None and resp.get_body():
                try:
                    stored = json.loads(resp.get_body())
                except ValueError:
                    stored = None
            await idempotency.settle(
                ctx, user_id=principal.user_id, scope=scope, key=key,
                status=resp.status_code if resp is not None else None, response=stored,
            )

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
    errors: tuple[int, ...] = (),
    idempotent_key: bool = False,
    idempotency_in_service: bool = False,
    also: tuple[int, ...] = (),
    limit_ip_writes: bool = True,
    development_only: bool = False,
) -> Callable[[Handler], Any]:
    """Registers an HTTP-triggered function and its OpenAPI description in one place.

    `idempotent_key=True` makes the endpoint honour `Idempotency-Key` generically;
    `idempotency_in_service=True` only documents the header, for services that commit the
    key in their own transaction (`platform.idempotency.run_once`). `also` lists other
    success statuses the endpoint answers with the same body (e.g. 200 for a repeat).

    Requests are rate-limited, reads and writes apart: signed-in ones per user and per
    address (in `authenticate`), anonymous ones (`auth=False`) per address here.
    `limit_ip_writes=False` is for callers that speak for many users from one address (the
    Web PubSub service's event calls and handshakes, which are limited per user instead).

    `development_only=True` registers the endpoint only in development and test: anywhere
    else the host never hears of it (a 404, and absent from the OpenAPI document).
    """

    def register(handler: Handler) -> Any:
        if development_only and not get_settings().is_development:
            return handler
        name = handler.__name__
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
                roles=roles,
                errors=errors,
                idempotent_key=idempotent_key or idempotency_in_service,
                also=also,
                rate_limited=auth or ip_limited,
            )
        )
        inner = with_idempotency(name, handler) if idempotent_key else handler
        if ip_limited:
            inner = with_ip_limit(inner, reads=not writes)
        wrapped = guarded(name, inner)
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


# --- requests ----------------------------------------------------------------------------
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def authenticate(req: func.HttpRequest, *roles: str) -> Principal:
    """The verified caller with the roles their stored account grants (`platform/users.py`:
    the token may only narrow them); 401 without a valid token, 403 without one of `roles`,
    429 past the request rate of its address or of its user (reads and writes are counted
    apart, reads far more generously)."""
    ctx = await get_context()
    s = ctx.settings
    write = req.method.upper() not in READ_METHODS
    if write:
        ip_bucket, ip_rate, user_bucket, user_rate = (
            "writes-ip", s.rate_limit_writes_per_ip_per_minute, "writes", s.rate_limit_writes_per_minute)
    else:
        ip_bucket, ip_rate, user_bucket, user_rate = (
            "reads-ip", s.rate_limit_reads_per_ip_per_minute, "reads", s.rate_limit_reads_per_minute)
    # The address first, so requests with forged or expired tokens are counted too.
    await limit_rate(ctx, ip_bucket, client_ip(req), ip_rate, fail_open=True)
    claimed = await ctx.tokens.verify(bearer_token(req.headers))
    # Both are one Redis round trip when warm; sent together they cost one wait.
    _, principal = await asyncio.gather(
        limit_rate(ctx, user_bucket, claimed.user_id, user_rate, fail_open=True),
        users.authorize(ctx, claimed),
    )
    require_role(principal, roles)
    return principal


def with_ip_limit(handler: Handler, *, reads: bool) -> Handler:
    """Anonymous requests (payment webhooks, development tokens, health) are counted per address."""

    @functools.wraps(handler)
    async def run(req: func.HttpRequest) -> func.HttpResponse:
        ctx = await get_context()
        s = ctx.settings
        if reads:
            await limit_rate(ctx, "reads-ip", client_ip(req), s.rate_limit_reads_per_ip_per_minute, fail_open=True)
        else:
            await limit_rate(ctx, "writes-ip", client_ip(req), s.rate_limit_writes_per_ip_per_minute, fail_open=True)
        return await handler(req)

    return run


def _address(entry: str) -> str:
    """`203.0.113.7:51234`, `[2001:db8::1]:443` or a bare address → the address alone."""
    entry = entry.strip()
    if entry.startswith("["):
        return entry[1:].split("]", 1)[0]
    if entry.count(":") == 1:
        return entry.split(":", 1)[0]
    return entry


def client_ip(req: func.HttpRequest) -> str:
    """The caller's address, as the front end in front of the app reports it.

    Azure's front end appends the address it accepted the connection from to
    X-Forwarded-For (as `ip:port`), and the local host does the same; everything to the
    left of it came from the client and may be forged, so it is read from the right:
    LECTERN_TRUSTED_PROXY_HOPS is how many proxies we run in front (1: the platform's
    front end; 2 with Front Door or a gateway before it). Headers such as X-Real-IP are not trusted
    for the same reason: nothing in front of the app overwrites them. `unknown` groups
    callers that carry no address.
    """
    entries = [e for e in (req.headers.get("x-forwarded-for") or "").split(",") if e.strip()]
    if not entries:
        return "unknown"
    hops = max(1, get_settings().trusted_proxy_hops)
    entry = entries[-min(hops, len(entries))]
    return _address(entry)[:64] or "unknown"


async def limit_rate(ctx: Any, bucket: str, subject: str, per_minute: int, *, fail_open: bool) -> None:
    """429 with Retry-After beyond `per_minute`.

    When Redis is down: ordinary writes fail open (`fail_open=True`: an outage of the
    limiter must not lock every user out of heartbeats and quizzes), while abuse-prone
    calls (issuing tokens, joining live classes) fail closed with a 503, since unmetered
    they are what an attacker would use. Reads are metered generously and always fail
    open: the limiter's outage must never take reading down with it.
    """
    try:
        decision = await ctx.rate_limits.allow(bucket, subject, limit=per_minute, period_ms=60_000)
    except RedisError:
        if fail_open:
            return
        raise ServiceUnavailable("Rate limiting is unavailable; retry shortly.", retry_after=5) from None
    if not decision.allowed:
        raise RateLimited("Too many requests; slow down.", retry_after=decision.retry_after_seconds)


def _unstorable(text: str) -> bool:
    """NUL and lone surrogates parse as JSON but no store (PostgreSQL, UTF-8) accepts them."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_strings(value: Any) -> None:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if _unstorable(node):
                raise BadRequest("Text must be valid UTF-8 without NUL characters.")
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def raw_json(req: func.HttpRequest, *, allow_empty: bool = False) -> Any:
    """The body as parsed JSON, after the content-type, size and depth checks."""
    settings = get_settings()
    body = req.get_body() or b""
    if len(body) > settings.max_body_bytes:
        raise PayloadTooLarge(f"The body is {len(body)} bytes; the limit is {settings.max_body_bytes}.")
    if not body.strip():
        if allow_empty:
            return {}
        raise BadRequest("The request needs a JSON body.")
    content_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType(f"Send the body as application/json, not {content_type}.")
    # Before parsing: the parser recurses per level, so a deep enough body would exhaust
    # the stack inside json.loads itself.
    if too_deep(body, settings.max_json_depth):
        raise BadRequest(f"The JSON is nested deeper than {settings.max_json_depth} levels.")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}.", title="Malformed JSON") from None
    _check_strings(data)
    return data


def json_body(req: func.HttpRequest, model: type[M], *, allow_empty: bool = False) -> M:
    """The body validated against `model`: 400 with field details when it does not fit."""
    data = raw_json(req, allow_empty=allow_empty)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(errors=problems.field_errors(exc)) from None


def query(req: func.HttpRequest, model: type[M]) -> M:
    """Query parameters validated against `model` (repeated keys become lists where declared)."""
    params = dict(req.params)
    _check_strings(params)
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise ValidationFailed(errors=problems.field_errors(exc, location="query")) from None


def route_id(req: func.HttpRequest, name: str) -> str:
    """A UUID route parameter; anything else cannot name a resource, so 404."""
    value = req.route_params.get(name, "")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise NotFound(f"No resource has the id '{value[:64]}'.") from None


def header(req: func.HttpRequest, name: str) -> str | None:
    """A header's value, stripped; 400 when its bytes are not text (a header the host
    could only decode with escapes would otherwise fail deep in a store's encoder)."""
    value = req.headers.get(name)
    if not value:
        return None
    if _unstorable(value):
        raise BadRequest(f"The '{name}' header is not valid text.")
    return value.strip()


# --- responses ---------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def respond(value: Any = None, *, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    if value is None and status == 204:
        return func.HttpResponse(status_code=204, headers=headers or {})
    return func.HttpResponse(
        json.dumps(_plain(value), separators=(",", ":"), default=str),
        status_code=status,
        headers=headers or {},
        mimetype="application/json",
    )


__all__ = [
    "OPERATIONS",
    "FieldError",
    "authenticate",
    "client_ip",
    "endpoint",
    "header",
    "json_body",
    "limit_rate",
    "query",
    "raw_json",
    "register_unknown_paths",
    "respond",
    "route_id",
]
