"""The committed OpenAPI document is the code's, and it says what a generated client needs:
which fields are always there, which may be null, which strings are UUIDs, which problem
types an error can carry, an example for every request body, and who must sign in."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import function_app  # noqa: F401 - registers every blueprint's operations
from shared_code import errors
from shared_code.circuit import CircuitOpen
from shared_code.http import OPERATIONS
from shared_code.openapi import build_document
from shared_code.problem_types import BY_SLUG, PROBLEM_TYPES
from tests.support import source

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def doc() -> dict:
    return build_document()


def _operations(doc: dict):
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            yield method, path, op


def test_the_committed_contracts_are_what_make_openapi_writes_now():
    # Its own process: the local settings applied as the host applies them.
    run = subprocess.run([sys.executable, "scripts/contracts.py", "--check"], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_next_cursor_is_always_sent_and_may_be_null(doc):
    pages = {name: s for name, s in doc["components"]["schemas"].items() if "nextCursor" in s.get("properties", {})}
    assert pages, "no paged responses found"
    for name, schema in pages.items():
        assert "nextCursor" in schema["required"], name
        assert {"type": "null"} in schema["properties"]["nextCursor"]["anyOf"], name


def test_response_fields_with_defaults_are_required(doc):
    course = doc["components"]["schemas"]["Course"]
    assert set(course["properties"]) == set(course["required"])


def test_request_fields_with_defaults_stay_optional(doc):
    assert doc["components"]["schemas"]["CourseCreate"]["required"] == ["title"]


def test_every_id_path_parameter_is_a_uuid_unless_listed(doc):
    for method, path, op in _operations(doc):
        for param in op["parameters"]:
            if param["in"] == "path" and param["name"] not in ("messageId", "name"):
                assert param["schema"] == {"type": "string", "format": "uuid"}, (method, path, param)


def test_id_fields_of_responses_are_uuids(doc):
    schemas = doc["components"]["schemas"]
    for name in ("Course", "Lesson", "LiveClass", "Poll", "ChatMessage", "Material", "Purchase"):
        assert schemas[name]["properties"]["id"]["format"] == "uuid", name


def test_every_request_body_has_an_example_its_model_accepts(doc):
    models = {op.name: op.request for op in OPERATIONS}
    bodies = 0
    for method, path, op in _operations(doc):
        if "requestBody" not in op:
            continue
        bodies += 1
        example = op["requestBody"]["content"]["application/json"].get("example")
        assert example is not None, (method, path)
        models[op["operationId"]].model_validate(example)
    assert bodies >= 15


def test_protected_operations_need_the_bearer_and_public_ones_say_so(doc):
    auth = {op.name: op.auth for op in OPERATIONS}
    for method, path, op in _operations(doc):
        expected = [{"bearer": []}] if auth[op["operationId"]] else []
        assert op["security"] == expected, (method, path)
    assert doc["security"] == [{"bearer": []}]
    assert doc["paths"]["/api/health"]["get"]["security"] == []
    assert doc["paths"]["/api/courses"]["post"]["security"] == [{"bearer": []}]


def test_problem_type_is_one_of_the_documented_uris(doc):
    schemas = doc["components"]["schemas"]
    assert schemas["Problem"]["properties"]["type"] == {"$ref": "#/components/schemas/ProblemType"}
    documented = {c["const"]: c["description"] for c in schemas["ProblemType"]["oneOf"]}
    assert "https://lectern.dev/problems/not-found" in documented
    assert all(meaning.strip() for meaning in documented.values())


def test_each_error_response_names_the_problem_types_of_its_status(doc):
    op = doc["paths"]["/api/courses"]["post"]

    def resolved(code: str) -> dict:
        ref = op["responses"][code]["$ref"]
        return doc["components"]["responses"][ref.rsplit("/", 1)[1]]

    examples = resolved("400")["content"]["application/problem+json"]["examples"]
    assert {e["value"]["type"] for e in examples.values()} >= {
        "https://lectern.dev/problems/bad-request", "https://lectern.dev/problems/validation-error"}
    assert "https://lectern.dev/problems/rate-limited" in resolved("429")["description"]
    assert "Retry-After" in resolved("429")["headers"]


def _error_classes(base: type) -> list[type]:
    found = []
    for sub in base.__subclasses__():
        found += [sub, *_error_classes(sub)]
    return found


def test_every_error_class_has_a_documented_problem_type():
    import shared_code

    for module in pkgutil.walk_packages(shared_code.__path__, "shared_code."):
        importlib.import_module(module.name)  # every error class defined anywhere is loaded
    classes = _error_classes(errors.LecternError)
    assert CircuitOpen in classes
    for cls in [errors.LecternError, *classes]:
        assert cls.type_slug in BY_SLUG, cls
        assert BY_SLUG[cls.type_slug].status == cls.status, cls


def test_every_slug_the_code_passes_by_hand_is_documented():
    """`type_slug="..."` given to `problem_body`/`problem_response` outside the error classes."""
    slugs: set[str] = set()
    for path in [*REPO.glob("shared_code/**/*.py"), *REPO.glob("functions/**/*.py")]:
        for node in ast.walk(source.parse(path)):
            if isinstance(node, ast.keyword) and node.arg == "type_slug" and isinstance(node.value, ast.Constant):
                slugs.add(node.value.value)
    assert slugs and slugs <= set(BY_SLUG), slugs - set(BY_SLUG)


def test_the_problems_page_lists_every_type():
    page = (REPO / "docs" / "problems.md").read_text(encoding="utf-8")
    for p in PROBLEM_TYPES:
        assert f"`{p.uri}`" in page


def test_the_committed_document_is_parseable_json():
    json.loads((REPO / "docs" / "openapi.json").read_text(encoding="utf-8"))
