"""Reading a request: the JSON body, query parameters, route ids, headers, the caller's address.

Each reader raises the domain error that becomes the right problem+json (400 malformed,
413 too large, 415 wrong media type, 404 for an id that cannot name anything), so a
handler never checks a status itself.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import azure.functions as func
from pydantic import BaseModel, ValidationError

from shared_code import problems
from shared_code.errors import BadRequest, NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from shared_code.json_limits import too_deep
from shared_code.settings import get_settings

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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


def json_body[M: BaseModel](req: func.HttpRequest, model: type[M], *, allow_empty: bool = False) -> M:
    """The body validated against `model`: 400 with field details when it does not fit."""
    data = raw_json(req, allow_empty=allow_empty)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(errors=problems.field_errors(exc)) from None


def query[M: BaseModel](req: func.HttpRequest, model: type[M]) -> M:
    """Query parameters validated against `model` (repeated keys become lists where declared)."""
    params = dict(req.params)
    _check_strings(params)
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise ValidationFailed(errors=problems.field_errors(exc, location="query")) from None


# The form `str(uuid.UUID(...))` gives: an id already written so is taken as it is.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def route_id(req: func.HttpRequest, name: str) -> str:
    """A UUID route parameter; anything else cannot name a resource, so 404."""
    value: str = req.route_params.get(name, "")
    if _CANONICAL_UUID.fullmatch(value):
        return value  # what the hot paths send: no UUID object built and printed again
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise NotFound(f"No resource has the id '{value[:64]}'.") from None


def header(req: func.HttpRequest, name: str) -> str | None:
    """A header's value, stripped; 400 when its bytes are not text (a header the host
    could only decode with escapes would otherwise fail deep in a store's encoder)."""
    value: str | None = req.headers.get(name)
    if not value:
        return None
    if _unstorable(value):
        raise BadRequest(f"The '{name}' header is not valid text.")
    return value.strip()


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
