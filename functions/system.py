"""System endpoints: health, the OpenAPI document, and (in development only) development
tokens and the no-op benchmark ceiling."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import azure.functions as func

from shared_code.auth import Principal, issue_dev_token
from shared_code.http import TOKENS_PER_ADDRESS, Call, endpoint, json_body, register_unknown_paths, respond
from shared_code.models.system import DevToken, DevTokenRequest, Health
from shared_code.openapi import build_document
from shared_code.platform.users import ensure_user
from shared_code.settings import get_settings

bp = func.Blueprint()
register_unknown_paths(bp)

@endpoint(bp, "health", ["GET"], summary="Health of every dependency", tag="system", response=Health, auth=False,
          errors=(503,), also=(503,))
async def health(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    report = await call.ctx.health.report(call.ctx)
    status = 200 if report.ok else 503
    headers = {} if report.ok else {"Retry-After": "5"}
    return respond(Health.model_validate({"status": "ok" if report.ok else "degraded", "checks": report.checks,
                                          "checkedAt": report.checked_at}), status=status, headers=headers)


@endpoint(bp, "system/noop", ["GET"], summary="Does nothing: the host's own ceiling for benchmarks", tag="system",
          status=204, auth=False, development_only=True)
async def noop(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    # Answers without touching any store, so a benchmark can tell host overhead from app work.
    return respond(status=204)


_document_cache: dict[str, str] = {}


@endpoint(bp, "openapi.json", ["GET"], summary="The OpenAPI 3.1 document", tag="system", auth=False)
async def openapi_document(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    if "doc" not in _document_cache:
        _document_cache["doc"] = json.dumps(build_document())
    return func.HttpResponse(_document_cache["doc"], mimetype="application/json")


@endpoint(
    bp,
    "dev/token",
    ["POST"],
    summary="Issue a development token (development mode only)",
    tag="system",
    request=DevTokenRequest,
    response=DevToken,
    auth=False,
    errors=(429,),
    limits=(TOKENS_PER_ADDRESS,),
    development_only=True,  # anywhere else it is not registered at all: 404
)
async def dev_token(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    settings = get_settings()
    body = json_body(req, DevTokenRequest)
    user_id = str(body.user_id or uuid.uuid4())
    token, exp = issue_dev_token(settings, user_id=user_id, name=body.name, roles=body.roles)
    await ensure_user(call.ctx, Principal(user_id=user_id, name=body.name, roles=frozenset(body.roles)))
    return respond(
        DevToken(token=token, expires_at=datetime.fromtimestamp(exp, tz=UTC), user_id=uuid.UUID(user_id))
    )
