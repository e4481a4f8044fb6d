"""RFC 9457 problem+json responses: the only shape an error leaves the app in."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import azure.functions as func
from pydantic import ValidationError

from shared_code.errors import FieldError, LecternError

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://lectern.dev/problems/"

logger = logging.getLogger("lectern.problems")


def problem_body(
    status: int,
    title: str,
    *,
    type_slug: str | None = None,
    detail: str | None = None,
    errors: list[FieldError] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": TYPE_BASE + type_slug if type_slug else "about:blank",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def problem_response(
    status: int,
    title: str,
    *,
    type_slug: str | None = None,
    detail: str | None = None,
    errors: list[FieldError] | None = None,
    retry_after: int | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> func.HttpResponse:
    out_headers = dict(headers or {})
    if retry_after is not None:
        out_headers["Retry-After"] = str(max(1, int(retry_after)))
    body = problem_body(status, title, type_slug=type_slug, detail=detail, errors=errors, **extra)
    return func.HttpResponse(
        json.dumps(body), status_code=status, headers=out_headers, mimetype=PROBLEM_MEDIA_TYPE
    )


def from_error(error: LecternError) -> func.HttpResponse:
    return problem_response(
        error.status,
        error.title,
        type_slug=error.type_slug,
        detail=error.detail,
        errors=error.errors,
        retry_after=error.retry_after,
    )


def field_errors(exc: ValidationError, *, location: str = "body") -> list[FieldError]:
    """Pydantic's errors as `{field, message}` pairs, with camelCase paths as sent."""
    out: list[FieldError] = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
        out.append(FieldError(field=path or location, message=err.get("msg", "invalid")))
    return out


def internal_error(exc: BaseException, *, function: str) -> func.HttpResponse:
    """A 500 that names a correlation id and logs the cause, without leaking it."""
    correlation_id = str(uuid.uuid4())
    logger.error(
        "unhandled error in %s (correlationId=%s)",
        function,
        correlation_id,
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"correlationId": correlation_id, "function": function},
    )
    return problem_response(
        500,
        "Internal Server Error",
        type_slug="internal-error",
        detail="The server failed to handle this request. Quote the correlation id when reporting it.",
        correlationId=correlation_id,
    )
