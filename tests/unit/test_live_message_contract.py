"""The live-class messages are a published contract: docs/asyncapi.json is valid AsyncAPI 3.0
(checked against the schema of the `@asyncapi/specs` npm package, installed by the
bootstrap's `npm ci`), lists every message docs/live-classes.md names, and its schemas tell
a fitting message from a broken one."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from shared_code.asyncapi import build_asyncapi
from tests.support.live_contract import violation

REPO = Path(__file__).resolve().parents[2]
CLASS_ID = "6a1f0c52-8d3e-4b0a-9c71-5e2d4f8a1b33"
USER_ID = "0b7e4c1d-2f3a-4e5b-8c6d-7e8f9a0b1c2d"


@pytest.fixture(scope="module")
def doc() -> dict:
    return json.loads((REPO / "docs" / "asyncapi.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def asyncapi_schema() -> jsonschema.protocols.Validator:
    spec = json.loads((REPO / "node_modules" / "@asyncapi" / "specs" / "schemas" / "3.0.0.json").read_text())
    return jsonschema.validators.validator_for(spec)(spec)


def test_the_document_is_valid_asyncapi_3_0(doc, asyncapi_schema):
    errors = list(asyncapi_schema.iter_errors(doc))
    assert not errors, [e.message[:200] for e in errors[:5]]


def test_a_broken_document_is_refused_by_the_asyncapi_schema(asyncapi_schema):
    broken = build_asyncapi()
    broken["operations"]["receiveAck"]["action"] = "listen"
    assert list(asyncapi_schema.iter_errors(broken))


def _section(text: str, title: str) -> str:
    return text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_every_message_the_live_page_names_is_in_the_document(doc):
    page = (REPO / "docs" / "live-classes.md").read_text(encoding="utf-8")
    names = {m["name"] for m in doc["components"]["messages"].values()}
    server: set[str] = set()
    for line in _section(page, "Server → client").splitlines():
        if line.startswith("| `"):
            for name in re.findall(r"`([.\w]+)`", line.split("|")[1]):
                server.add("screenShare" + name if name.startswith(".") else name)
    client = {
        re.findall(r"`(\w+)`", line.split("|")[1])[0]
        for line in _section(page, "Client → server").splitlines()
        if line.startswith("| `")
    }
    assert len(server) >= 15 and len(client) == 6
    assert server <= names, server - names
    assert client <= names, client - names
    assert {"ack", "material.published", "progress.updated", "quiz.graded"} <= names


def _chat(**change: object) -> dict:
    return {"type": "chat.message", "classId": CLASS_ID, "seq": 7, "at": "2026-01-15T16:00:00.123Z",
            "id": USER_ID, "userId": USER_ID, "userName": "Ada", "text": "hello", **change}


def test_a_message_as_the_server_sends_it_fits():
    assert violation(_chat()) is None


@pytest.mark.parametrize(
    "change",
    [{"seq": "7"}, {"userId": "not-a-uuid"}, {"at": "yesterday"}, {"surprise": 1}, {"type": "chat.shouted"}],
    ids=["wrong-type", "not-a-uuid", "not-a-date-time", "unknown-field", "undocumented-type"],
)
def test_a_message_outside_the_contract_is_caught(change):
    assert violation(_chat(**change)) is not None


def test_a_missing_field_is_caught():
    assert violation({"type": "presence.updated", "classId": CLASS_ID, "seq": 3, "at": "2026-01-15T16:00:00Z"})
