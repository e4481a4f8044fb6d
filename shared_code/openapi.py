"""The OpenAPI 3.1 document, generated from the registered operations and their pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from shared_code.http import OPERATIONS, Operation

_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\??\}")

PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "correlationId": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}

_STATUS_TEXT = {
    400: "Malformed or invalid request",
    401: "Missing or invalid bearer token",
    403: "Role or relation does not allow this",
    404: "Not found or not visible",
    409: "Conflict",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Not allowed by the domain rules",
    429: "Rate limited",
    503: "A dependency is unavailable",
}


def _path(route: str, prefix: str) -> tuple[str, list[str]]:
    names = [m.group(2) for m in _PARAM.finditer(route)]
    return f"/{prefix}/" + _PARAM.sub(lambda m: "{" + m.group(2) + "}", route), names


def _schema_ref(annotation: Any, defs: dict[str, Any]) -> dict[str, Any]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {"$ref": f"#/components/schemas/{annotation.__name__}"}
    schema = TypeAdapter(annotation).json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
    defs.update(schema.pop("$defs", {}))
    return schema


def build_document(*, route_prefix: str = "api", version: str = "1.0.0") -> dict[str, Any]:
    models: set[type[BaseModel]] = set()
    for op in OPERATIONS:
        for m in (op.request, op.response, op.query):
            if isinstance(m, type) and issubclass(m, BaseModel):
                models.add(m)
    ordered = sorted(models, key=lambda m: m.__name__)
    mode_pairs = [(m, "validation") for m in ordered]
    _, top = models_json_schema(mode_pairs, ref_template="#/components/schemas/{model}", by_alias=True)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    schemas["Problem"] = PROBLEM_SCHEMA

    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        path, names = _path(op.route, route_prefix)
        for method in op.methods:
            paths.setdefault(path, {})[method.lower()] = _operation(op, names, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Lectern API",
            "version": version,
            "description": "Content, progress and live-class API of the Lectern platform.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def _operation(op: Operation, path_params: list[str], schemas: dict[str, Any]) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in path_params
    ]
    if op.query is not None:
        qschema = op.query.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
        required = set(qschema.get("required", []))
        for name, prop in qschema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    if op.idempotent_key:
        params.append(
            {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 200}}
        )
    out: dict[str, Any] = {"operationId": op.name, "summary": op.summary, "tags": [op.tag], "parameters": params}
    if op.request is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{op.request.__name__}"}}},
        }
    ok: dict[str, Any] = {"description": "Success"}
    if op.response is not None:
        ok["content"] = {"application/json": {"schema": _schema_ref(op.response, schemas)}}
    responses: dict[str, Any] = {str(op.status): ok}
    for extra in op.also:
        responses[str(extra)] = dict(ok)
    codes = set(op.errors) | {400, 503}
    if op.rate_limited:
        codes.add(429)
    if op.idempotent_key:
        codes.add(409)  # the same Idempotency-Key with another body
    if op.auth:
        out["security"] = [{"bearer": []}]
        codes |= {401, 403}
    if path_params:
        codes.add(404)
    if op.request is not None:
        codes |= {413, 415}
    for code in sorted(codes):
        problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        if str(code) in responses:
            # A status that also carries the operation's own body (health's 503 "degraded").
            own = responses[str(code)].get("content", {})
            responses[str(code)] = {"description": _STATUS_TEXT.get(code, "Error"), "content": {**own, **problem}}
        else:
            responses[str(code)] = {"description": _STATUS_TEXT.get(code, "Error"), "content": problem}
        if code in (429, 503):
            responses[str(code)]["headers"] = {
                "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
            }
    out["responses"] = responses
    return out
