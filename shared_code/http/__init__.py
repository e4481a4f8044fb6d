"""What every HTTP handler shares, one module per idea:

- `endpoint` — the decorator: route, OpenAPI record, who may call (roles, relation);
- `callers` — the verified caller, the role gate, the relations, the `Call` a handler gets;
- `parsing` — body, query, route ids, headers, the caller's address;
- `responses` — JSON responses and the security headers;
- `problems` — the one place an exception becomes problem+json;
- `idempotency` — generic `Idempotency-Key` replay;
- `limits` — request rates.

A handler is then parse → one service call → respond.
"""

from shared_code.errors import FieldError
from shared_code.http.callers import (
    CLASS_MANAGER,
    CLASS_MEMBER,
    CLASS_OWNER,
    COURSE_MANAGER,
    COURSE_MEMBER,
    JOINS_PER_ADDRESS,
    JOINS_PER_USER,
    MANAGER_ROLES,
    MEMBER_ROLES,
    QUIZ_MEMBER,
    QUIZ_TAKER,
    TOKENS_PER_ADDRESS,
    Call,
    Limit,
    Relation,
    authenticate,
    course_id_relation,
    course_relation,
    in_body,
    in_query,
    lesson_relation,
    material_relation,
)
from shared_code.http.endpoint import OPERATIONS, Operation, endpoint, register_unknown_paths
from shared_code.http.limits import limit_rate
from shared_code.http.parsing import client_ip, header, json_body, query, raw_json, route_id
from shared_code.http.problems import guarded
from shared_code.http.responses import respond, respond_json

__all__ = [
    "CLASS_MANAGER",
    "CLASS_MEMBER",
    "CLASS_OWNER",
    "COURSE_MANAGER",
    "COURSE_MEMBER",
    "JOINS_PER_ADDRESS",
    "JOINS_PER_USER",
    "MANAGER_ROLES",
    "MEMBER_ROLES",
    "OPERATIONS",
    "QUIZ_MEMBER",
    "QUIZ_TAKER",
    "TOKENS_PER_ADDRESS",
    "Call",
    "FieldError",
    "Limit",
    "Operation",
    "Relation",
    "authenticate",
    "client_ip",
    "course_id_relation",
    "course_relation",
    "endpoint",
    "guarded",
    "header",
    "in_body",
    "in_query",
    "json_body",
    "lesson_relation",
    "limit_rate",
    "material_relation",
    "query",
    "raw_json",
    "register_unknown_paths",
    "respond",
    "respond_json",
    "route_id",
]
