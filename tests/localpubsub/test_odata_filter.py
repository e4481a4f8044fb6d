"""The OData filter grammar of the REST API, evaluated against connections (pure logic)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from localpubsub.odata_filter import FilterError, parse_filter

pytestmark = pytest.mark.unit


@dataclass
class Conn:
    connection_id: str
    user_id: str | None
    groups: set[str] = field(default_factory=set)


ANN = Conn("c1", "ann", {"g1", "g2"})
BOB = Conn("c2", "bob", {"g2"})
OBRIEN = Conn("c3", "o'brien")
ANONYMOUS = Conn("c4", None, {"g1"})
EVERYONE = [ANN, BOB, OBRIEN, ANONYMOUS]


def chosen(expression: str) -> list[str]:
    where = parse_filter(expression)
    return [c.connection_id for c in EVERYONE if where.matches(c)]


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("userId eq 'ann'", ["c1"]),
        ("userId ne 'ann'", ["c2", "c3", "c4"]),
        ("userId eq null", ["c4"]),
        ("userId ne null", ["c1", "c2", "c3"]),
        ("connectionId eq 'c2'", ["c2"]),
        ("'g1' in groups", ["c1", "c4"]),
        ("'g1' in (groups)", ["c1", "c4"]),
        ("not ('g1' in groups)", ["c2", "c3"]),
        ("userId in ('ann', 'bob')", ["c1", "c2"]),
        ("userId eq 'o''brien'", ["c3"]),
        ("'g2' in groups and userId ne 'ann'", ["c2"]),
        ("userId eq 'ann' or userId eq 'bob' and 'g1' in groups", ["c1"]),
        ("(userId eq 'ann' or userId eq 'bob') and 'g1' in groups", ["c1"]),
        ("USERID EQ 'ann'", ["c1"]),
        ("true", ["c1", "c2", "c3", "c4"]),
        ("false or length(groups) ge 2", ["c1"]),
        ("length(userId) gt 3", ["c3"]),
        ("startswith(userId, 'a') or endswith(userId, 'b')", ["c1", "c2"]),
        ("contains(userId, '''')", ["c3"]),
        ("indexof(userId, 'b') eq 0", ["c2"]),
        ("tolower(toupper(userId)) eq 'ann'", ["c1"]),
        ("trim(concat(' ', userId)) eq 'bob'", ["c2"]),
        ("substring(userId, 1) eq 'nn'", ["c1"]),
        ("substring(userId, 0, 2) eq 'bo'", ["c2"]),
        ("userId gt 'b'", ["c2", "c3"]),
        ("userId lt 'b' and userId ne null", ["c1"]),
        ("not (length(userId) gt 3)", ["c1", "c2", "c4"]),
    ],
)
def test_filter_selects(expression: str, expected: list[str]) -> None:
    assert chosen(expression) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "userId",
        "userId eq",
        "userId eq 'a' and",
        "not length(userId) gt 5",
        "length(userId)",
        "groups eq 'a'",
        "userId eq 1",
        "nickname eq 'a'",
        "userId eq 'unterminated",
        "startswith(userId)",
        "'a' in ('b'",
        "(userId eq 'a'",
        "userId eq 'a') ",
        "userId eq 'a' # comment",
        "(" * 100 + "true" + ")" * 100,
    ],
)
def test_bad_filters_are_refused(expression: str) -> None:
    with pytest.raises(FilterError):
        parse_filter(expression)


def test_a_filter_of_too_many_clauses_is_refused() -> None:
    with pytest.raises(FilterError):
        parse_filter(" or ".join(f"userId eq 'u{i}'" for i in range(400)))
