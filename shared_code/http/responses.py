"""Writing a response: JSON bodies from models, and the security headers every answer carries."""

from __future__ import annotations

from typing import Any

import azure.functions as func
from pydantic import BaseModel

from shared_code import json_codec

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


_SECURITY_BY_LOWER = {name.lower(): (name, value) for name, value in SECURITY_HEADERS.items()}


def finish(req: func.HttpRequest, resp: func.HttpResponse) -> func.HttpResponse:
    """Adds the security headers every response carries. CORS is the host's: the platform
    in Azure (siteConfig.cors) and Host.CORS locally answer it, preflights included, from
    the same allow-list, so the app adds no CORS headers that would be sent twice.

    The names already set are read once: the response's header list raises (and builds) an
    exception for every name it lacks, which cost every response more than its own JSON."""
    headers = resp.headers
    present = {name.lower() for name in headers.keys()}
    for lower, (name, value) in _SECURITY_BY_LOWER.items():
        if lower not in present:
            headers.add(name, value)
    return resp


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def respond(value: Any = None, *, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    if value is None and status == 204:
        return func.HttpResponse(status_code=204, headers=headers or {})
    if isinstance(value, BaseModel):
        # Straight to JSON bytes in pydantic's own serialiser: no dict of plain values in between.
        return respond_json(value.model_dump_json(by_alias=True).encode(), status=status, headers=headers)
    return func.HttpResponse(
        json_codec.dumps(_plain(value)),
        status_code=status,
        headers=headers or {},
        mimetype="application/json",
    )


def respond_json(body: bytes, *, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    """A response of JSON already serialised (a hot read keeps its answer as bytes)."""
    return func.HttpResponse(body, status_code=status, headers=headers or {}, mimetype="application/json")
