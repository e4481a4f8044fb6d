"""The OpenAPI document is valid 3.1 and describes every registered HTTP function."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

import function_app  # noqa: F401 - registers every blueprint's operations
from shared_code.http import OPERATIONS
from shared_code.openapi import build_document


def test_the_document_is_valid_openapi_3_1():
    validate(build_document())


def test_every_http_function_is_documented_under_api():
    doc = build_document()
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    for op in OPERATIONS:
        path = "/api/" + re.sub(r"\{(\w+)(:[^}]*)?\??\}", r"{\1}", op.route)
        for method in op.methods:
            assert (method, path) in documented


def test_authenticated_operations_declare_401_and_403():
    doc = build_document()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if op.get("security"):
                assert {"401", "403"} <= set(op["responses"]), (method, path)


def _operations_by_id() -> dict[str, dict]:
    doc = build_document()
    return {op["operationId"]: op for ops in doc["paths"].values() for op in ops.values() if "operationId" in op}


def test_every_operation_says_who_may_call_it():
    """Each operation's description names who may call it; signed-in ones list their roles
    and, where they declare one, the relation (its name, and where its id is read)."""
    declared = {op.name: op for op in OPERATIONS}
    for name, op in _operations_by_id().items():
        assert op["description"].startswith("Who may call: "), name
        if declared[name].auth:
            assert op["x-lectern-roles"] == list(declared[name].roles), name
        else:
            assert "x-lectern-roles" not in op and "anyone" in op["description"], name
        if declared[name].relation is None:
            assert "x-lectern-relation" not in op, name
        else:
            assert op["x-lectern-relation"]["name"] == declared[name].relation, name
            assert declared[name].relation in op["description"], name


def test_relations_read_from_a_body_or_the_path_say_so():
    ops = _operations_by_id()
    assert ops["create_class"]["x-lectern-relation"] == {"name": "owning tutor, admin", "param": "courseId", "in": "body"}
    assert ops["list_classes"]["x-lectern-relation"]["in"] == "query"
    assert ops["record_progress"]["x-lectern-relation"] == {"name": "enrolled student", "param": "lessonId", "in": "path"}
    assert ops["record_progress"]["x-lectern-roles"] == ["student"]
    assert "enrolled student" in ops["submit_quiz_attempt"]["description"]
    assert "x-lectern-relation" in ops["download_material"]
