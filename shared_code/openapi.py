"""The OpenAPI 3.1 document, generated from the registered operations and their pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode
from pydantic_core import CoreSchema

from shared_code.http import OPERATIONS, Operation
from shared_code.problem_types import PROBLEM_TYPES, for_status

REF_TEMPLATE = "#/components/schemas/{model}"

_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\??\}")

PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"$ref": "#/components/schemas/ProblemType"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "correlationId": {"type": "string", "description": "Only on 500: quote it when reporting the failure."},
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


# Path parameters that are not UUIDs (a queue message id is the queue service's own).
NON_UUID_PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "messageId": {"type": "string", "minLength": 1, "maxLength": 100},
    "name": {"type": "string", "minLength": 1, "maxLength": 100},  # the API reference page's asset files
}

PROBLEM_MEDIA_TYPE = "application/problem+json"


def _problem_type_schema() -> dict[str, Any]:
    """Every documented problem type, as a union of constants: generated clients get the
    exact URIs to branch on, readers get each one's meaning."""
    return {
        "description": "What kind of problem this is: one of the documented URIs (docs/problems.md).",
        "oneOf": [
            {"const": p.uri, "title": p.title, "description": f"HTTP {p.status}. {p.meaning}"}
            for p in PROBLEM_TYPES
        ],
    }


def _definitions(operations: list[Operation]) -> tuple[dict[tuple[str, Any], dict[str, Any]], dict[str, Any]]:
    """One JSON schema per request body (as accepted) and per response body (as sent), sharing
    components. Responses are described in serialization mode with every field required:
    the server always sends each field, `null` where it has no value (`nextCursor: null`),
    so clients need not treat them as optional."""
    inputs: dict[tuple[JsonSchemaMode, Any], CoreSchema] = {}
    for op in operations:
        if op.request is not None:
            inputs.setdefault(("validation", op.request), TypeAdapter(op.request).core_schema)
        if op.response is not None:
            inputs.setdefault(("serialization", op.response), TypeAdapter(op.response).core_schema)
    generator = GenerateJsonSchema(by_alias=True, ref_template=REF_TEMPLATE)
    mapping, defs = generator.generate_definitions([(key, key[0], core) for key, core in inputs.items()])
    return {key: schema for (key, _mode), schema in mapping.items()}, {str(name): schema for name, schema in defs.items()}


def build_document(*, route_prefix: str = "api", version: str = "1.0.0") -> dict[str, Any]:
    operations = list(OPERATIONS)
    refs, defs = _definitions(operations)
    schemas: dict[str, Any] = {name: defs[name] for name in sorted(defs)}
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["ProblemType"] = _problem_type_schema()

    paths: dict[str, Any] = {}
    for op in operations:
        path, names = _path(op.route, route_prefix)
        for method in op.methods:
            paths.setdefault(path, {})[method.lower()] = _operation(op, names, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Lectern API",
            "version": version,
            "description": (
                "Content, progress and live-class API of the Lectern platform. Errors are "
                "`application/problem+json`; their `type` URIs are listed under `ProblemType` and in "
                "docs/problems.md. Live-class WebSocket messages are described by docs/asyncapi.json."
            ),
        },
        "servers": [{"url": "/"}],
        # Signed in unless an operation says otherwise (`security: []`).
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {_problem_response_name(c): _problem_response(c) for c in sorted(_STATUS_TEXT)},
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "`Authorization: Bearer <JWT>`; in development `POST /api/dev/token` issues one.",
                }
            },
        },
    }


def _path_parameter(name: str) -> dict[str, Any]:
    schema = NON_UUID_PATH_PARAMETERS.get(name, {"type": "string", "format": "uuid"})
    return {"name": name, "in": "path", "required": True, "schema": dict(schema)}


def _request_example(model: type[BaseModel]) -> Any | None:
    examples = (model.model_config.get("json_schema_extra") or {})
    found = examples.get("examples") if isinstance(examples, dict) else None
    return found[0] if isinstance(found, list) and found else None


def _problem_content(code: int) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": {"$ref": "#/components/schemas/Problem"}}
    examples = {
        p.slug: {"summary": p.title, "value": {"type": p.uri, "title": p.title, "status": p.status}}
        for p in for_status(code)
    }
    if examples:
        media["examples"] = examples
    return {PROBLEM_MEDIA_TYPE: media}


def _problem_response_name(code: int) -> str:
    return f"Problem{code}"


def _problem_response(code: int) -> dict[str, Any]:
    """One shared error response per status, with the problem types it can carry."""
    out: dict[str, Any] = {"description": _problem_description(code), "content": _problem_content(code)}
    if code in (429, 503):
        out["headers"] = {
            "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
        }
    return out


def _problem_description(code: int) -> str:
    kinds = ", ".join(f"`{p.uri}`" for p in for_status(code))
    text = _STATUS_TEXT.get(code, "Error")
    return f"{text} ({kinds})" if kinds else text


def _operation(op: Operation, path_params: list[str], refs: dict[tuple[str, Any], dict[str, Any]]) -> dict[str, Any]:
    params: list[dict[str, Any]] = [_path_parameter(n) for n in path_params]
    if op.query is not None:
        qschema = op.query.model_json_schema(by_alias=True, ref_template=REF_TEMPLATE)
        required = set(qschema.get("required", []))
        for name, prop in qschema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
    if op.idempotent_key:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Makes the write safe to retry: a repeat with the same key and body gets the first "
                "response again (with `Idempotent-Replayed: true`); the same key with another body is a 409.",
                "schema": {"type": "string", "maxLength": 200},
            }
        )
    out: dict[str, Any] = {
        "operationId": op.name,
        "summary": op.summary,
        "description": f"Who may call: {op.who_may_call}.",
        "tags": [op.tag],
        "parameters": params,
    }
    if op.auth:
        out["x-lectern-roles"] = list(op.roles)  # empty: any signed-in caller
    if op.relation is not None:
        where = "path" if op.relation_source == "route" else op.relation_source  # OpenAPI's word for a route parameter
        out["x-lectern-relation"] = {"name": op.relation, "param": op.relation_param, "in": where}
    if op.request is not None:
        media: dict[str, Any] = {"schema": refs[("validation", op.request)]}
        example = _request_example(op.request)
        if example is not None:
            media["example"] = example
        out["requestBody"] = {"required": True, "content": {"application/json": media}}
    ok: dict[str, Any] = {"description": "Success"}
    if op.response is not None:
        ok["content"] = {"application/json": {"schema": refs[("serialization", op.response)]}}
    responses: dict[str, Any] = {str(op.status): ok}
    for extra in op.also:
        responses[str(extra)] = dict(ok)
    codes = set(op.errors) | {400, 503}
    if op.rate_limited:
        codes.add(429)
    if op.idempotent_key:
        codes.add(409)  # the same Idempotency-Key with another body
    if op.relation is not None and any(m.upper() not in ("GET", "HEAD", "OPTIONS") for m in op.methods):
        codes.add(409)  # `taken-down`: a change to a course an admin took down, by its tutor
    out["security"] = [{"bearer": []}] if op.auth else []
    if op.auth:
        codes |= {401, 403}
    if path_params:
        codes.add(404)
    if op.request is not None:
        codes |= {413, 415}
    for code in sorted(codes):
        if str(code) in responses:
            # A status that also carries the operation's own body (health's 503 "degraded").
            own = responses[str(code)].get("content", {})
            responses[str(code)] = {**_problem_response(code), "content": {**own, **_problem_content(code)}}
        else:
            responses[str(code)] = {"$ref": f"#/components/responses/{_problem_response_name(code)}"}
    out["responses"] = responses
    return out
