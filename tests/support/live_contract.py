"""Every live message a test receives is checked against the published contract
(docs/asyncapi.json): its `type` must be documented and its body must fit that message's
schema, formats (UUIDs, date-times) included. `LiveClient` records what does not fit in
`VIOLATIONS`; the end-to-end ring fails any test after which it is not empty."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

REPO = Path(__file__).resolve().parents[2]

VIOLATIONS: list[str] = []


@cache
def _validators() -> dict[str, jsonschema.protocols.Validator]:
    """One validator per server message `type`, resolving refs inside the AsyncAPI document."""
    doc = json.loads((REPO / "docs" / "asyncapi.json").read_text(encoding="utf-8"))
    out = {}
    for message in doc["components"]["messages"].values():
        schema_name = message["payload"]["$ref"].rsplit("/", 1)[1]
        schema = doc["components"]["schemas"][schema_name]
        if schema["properties"]["type"].get("const") == "event":
            continue  # a client frame, not something the server sends
        root = {"$ref": message["payload"]["$ref"], "components": doc["components"]}
        out[message["name"]] = jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker())
    return out


def violation(message: Any) -> str | None:
    """Why `message` breaks the contract, or None when it fits."""
    kind = message.get("type") if isinstance(message, dict) else None
    validator = _validators().get(kind) if isinstance(kind, str) else None
    if validator is None:
        return f"undocumented message type {kind!r}: {json.dumps(message)[:300]}"
    errors = sorted(validator.iter_errors(message), key=lambda e: list(e.path))
    if errors:
        return f"{kind} does not fit its schema: " + "; ".join(
            f"{'/'.join(map(str, e.path)) or '(message)'}: {e.message[:200]}" for e in errors[:5])
    return None


def check(message: Any) -> None:
    found = violation(message)
    if found:
        VIOLATIONS.append(found)
