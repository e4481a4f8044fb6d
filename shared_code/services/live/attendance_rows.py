"""How attendance rows sit in Table storage: the rows taken together from a class's stream
are one entity (or a few), not one entity each.

Written one entity per row, a connect storm's rows went out as batch transactions, and the
Tables SDK spent about a third of a whole single upsert's CPU on each row of a batch (it
builds and parses a multipart part per row): the largest single share of the host's CPU
per connection. One entity holding a hundred rows as compact JSON costs under a tenth of
that per row.

A chunk entity has `RowKey` `rows.<first stream entry id>` and a `rows` property: a JSON
list of `[kind, connectionId, userId, userName, at]`. Classes written before keep an entity
per row (`RowKey` `<connectionId>.<kind>`, `adapters/table_keys.py`); `rows_of` reads both
as the same row dicts. A row can land in two chunks (rows a dead process took are taken
again, maybe with others, and written from another start): readers keep one per
connection and kind.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from shared_code.adapters import table_keys

CHUNK_PREFIX = "rows."
# A string property holds 64 KiB (32K UTF-16 characters); the JSON is ASCII (non-ASCII
# names are escaped), so characters are what counts.
MAX_CHUNK_CHARS = 30_000


def row_entity(
    class_id: str, *, user_id: str, user_name: str, connection_id: str, kind: str, at: str
) -> dict[str, Any]:
    """One row as its own entity would hold it: the shape every reader gets."""
    return {
        "PartitionKey": class_id,
        "RowKey": table_keys.attendance_row_key(connection_id, kind),
        "userId": user_id,
        "userName": user_name,
        "connectionId": connection_id,
        "kind": kind,
        "at": at,
    }


def chunk_entities(class_id: str, first_ids: list[str], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows (`row_entity` dicts, in stream order, `first_ids[i]` the stream entry id of
    `rows[i]`) as chunk entities of at most `MAX_CHUNK_CHARS` of JSON each."""
    chunks: list[dict[str, Any]] = []
    parts: list[str] = []
    size = 0
    start = ""
    for entry_id, row in zip(first_ids, rows, strict=True):
        part = json.dumps([row["kind"], row["connectionId"], row["userId"], row["userName"], row["at"]],
                          separators=(",", ":"))
        if parts and size + len(part) + 1 > MAX_CHUNK_CHARS:
            chunks.append(_chunk(class_id, start, parts))
            parts, size = [], 0
        if not parts:
            start = entry_id
        parts.append(part)
        size += len(part) + 1
    if parts:
        chunks.append(_chunk(class_id, start, parts))
    return chunks


def _chunk(class_id: str, first_id: str, parts: list[str]) -> dict[str, Any]:
    return {"PartitionKey": class_id, "RowKey": f"{CHUNK_PREFIX}{first_id}", "rows": "[" + ",".join(parts) + "]"}


def is_chunk(entity: dict[str, Any]) -> bool:
    return str(entity.get("RowKey", "")).startswith(CHUNK_PREFIX) and "rows" in entity


def rows_of(entity: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows an entity holds, each as `row_entity` shapes it: a chunk's, or the entity
    itself when it is one row. A chunk whose JSON is damaged holds none."""
    if not is_chunk(entity):
        return [entity]
    try:
        items = json.loads(entity["rows"])
    except (TypeError, ValueError):
        return []
    class_id = str(entity["PartitionKey"])
    return [
        row_entity(class_id, kind=str(kind), connection_id=str(connection), user_id=str(user), user_name=str(name),
                   at=str(at))
        for kind, connection, user, name, at in (i for i in items if isinstance(i, list) and len(i) == 5)
    ]


def unique_rows(entities: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every row of the entities, one per connection and kind (the first found)."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for entity in entities:
        for row in rows_of(entity):
            seen.setdefault((str(row.get("connectionId")), str(row.get("kind"))), row)
    return list(seen.values())


def renamed(entity: dict[str, Any], user_id: str, name: str) -> tuple[dict[str, Any] | None, int]:
    """The entity with the user's join rows named `name`, and how many rows changed (None and
    0 when none did): what an erasure writes back. Leave rows carry no name."""
    changed = 0
    if not is_chunk(entity):
        if entity.get("userId") == user_id and entity.get("kind") == "join" and entity.get("userName") != name:
            return {"PartitionKey": entity["PartitionKey"], "RowKey": entity["RowKey"], "userName": name}, 1
        return None, 0
    try:
        items = json.loads(entity["rows"])
    except (TypeError, ValueError):
        return None, 0
    for item in items:
        if isinstance(item, list) and len(item) == 5 and item[0] == "join" and item[2] == user_id and item[3] != name:
            item[3] = name
            changed += 1
    if not changed:
        return None, 0
    rows = json.dumps(items, separators=(",", ":"))
    return {"PartitionKey": entity["PartitionKey"], "RowKey": entity["RowKey"], "rows": rows}, changed


def join_user_ids(entities: Iterable[dict[str, Any]]) -> set[str]:
    """The users named on the entities' join rows."""
    return {str(row["userId"]) for entity in entities for row in rows_of(entity) if row.get("kind") == "join"}


def with_name(entity: dict[str, Any], user_id: str, name: str) -> dict[str, Any]:
    """The whole entity, the user's join rows named `name`: what to write in its place."""
    changed, _ = renamed(entity, user_id, name)
    return entity if changed is None else {**entity, **changed}
