"""Attendance rows sit many to a Table entity: the rows taken together become one entity,
or a few when their JSON would not fit one property; readers get every row back in the
shape a one-row entity had, one per connection and kind even when a row landed in two
entities, and old one-row entities read as before."""

import json

from shared_code.services.live.attendance_rows import (
    MAX_CHUNK_CHARS,
    chunk_entities,
    is_chunk,
    renamed,
    row_entity,
    rows_of,
    unique_rows,
)

CLASS = "c1"


def row(n: int, kind: str = "join", name: str = "Ann") -> dict:
    return row_entity(CLASS, user_id=f"u{n}", user_name=name if kind == "join" else "", connection_id=f"conn{n}",
                      kind=kind, at=f"2026-03-01T10:00:{n % 60:02d}.000000Z")


def ids(count: int, start: int = 0) -> list[str]:
    return [f"1772359200{start + i:03d}-0" for i in range(count)]


def test_the_rows_taken_together_are_one_entity_that_reads_back_as_the_same_rows():
    rows = [row(n) for n in range(100)]
    [chunk] = chunk_entities(CLASS, ids(100), rows)
    assert is_chunk(chunk) and chunk["PartitionKey"] == CLASS and chunk["RowKey"] == "rows.1772359200000-0"
    assert rows_of(chunk) == rows


def test_rows_whose_json_would_not_fit_one_property_go_to_several_entities():
    long_name = "Ä" * 200  # escaped in the JSON: six characters each
    rows = [row(n, name=long_name) for n in range(100)]
    chunks = chunk_entities(CLASS, ids(100), rows)
    assert len(chunks) > 1
    assert all(len(c["rows"]) <= MAX_CHUNK_CHARS for c in chunks)
    assert [r for c in chunks for r in rows_of(c)] == rows
    assert chunks[1]["RowKey"] == f"rows.{ids(100)[len(rows_of(chunks[0]))]}"


def test_a_row_in_two_entities_is_read_once_and_old_one_row_entities_read_as_they_are():
    first = chunk_entities(CLASS, ids(3), [row(0), row(1), row(2)])
    # A dead process's rows taken again with a later one, written from the same start.
    again = chunk_entities(CLASS, ids(4), [row(0), row(1), row(2), row(3)])
    legacy = row(9, kind="leave")
    rows = unique_rows([*first, *again, legacy])
    assert sorted((r["connectionId"], r["kind"]) for r in rows) == [
        ("conn0", "join"), ("conn1", "join"), ("conn2", "join"), ("conn3", "join"), ("conn9", "leave")]
    assert rows_of(legacy) == [legacy]


def test_a_damaged_entity_holds_no_rows():
    assert rows_of({"PartitionKey": CLASS, "RowKey": "rows.1-0", "rows": "[[\"join\""}) == []
    assert rows_of({"PartitionKey": CLASS, "RowKey": "rows.1-0", "rows": json.dumps([["join", "c"], 5])}) == []


def test_an_erasure_renames_the_persons_join_rows_and_nothing_else():
    [chunk] = chunk_entities(CLASS, ids(3), [row(0), row(1), row(0, kind="leave")])
    rewritten, changed = renamed(chunk, "u0", "Deleted user")
    assert changed == 1 and rewritten is not None
    names = {(r["userId"], r["kind"]): r["userName"] for r in rows_of({**chunk, **rewritten})}
    assert names == {("u0", "join"): "Deleted user", ("u1", "join"): "Ann", ("u0", "leave"): ""}
    # Done once, there is nothing left to change.
    assert renamed({**chunk, **rewritten}, "u0", "Deleted user") == (None, 0)
    assert renamed(row(0), "u0", "Deleted user") == (
        {"PartitionKey": CLASS, "RowKey": "conn0.join", "userName": "Deleted user"}, 1)
    assert renamed(row(1), "u0", "Deleted user") == (None, 0)
