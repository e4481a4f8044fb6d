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
