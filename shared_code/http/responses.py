"""Writing a response: JSON bodies from models, and the security headers every answer carries."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
from pydantic import BaseModel

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


def finish(req: func.HttpRequest, resp: func.HttpResponse) -> func.HttpResponse:
    """Adds the security headers every response carries. CORS is the host's: the platform
    in Azure (siteConfig.cors) and Host.CORS locally answer it, preflights included, from
    the same allow-list, so the app adds no CORS headers that would be sent twice."""
    for name, value in SECURITY_HEADERS.items():
        if name not in resp.headers:
            resp.headers[name] = value
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
    return func.HttpResponse(
        json.dumps(_plain(value), separators=(",", ":"), default=str),
        status_code=status,
        headers=headers or {},
        mimetype="application/json",
    )
