"""The OData `filter` of the REST API: which connections a send or a group change applies to.

Grammar and precedence follow the service's "OData filter syntax" reference: identifiers
`userId`, `connectionId` (strings) and `groups` (a collection); literals; `eq ne gt ge lt le`;
`in` with a parenthesised list or a collection; `not` (binding tightest), then comparisons,
`and`, `or`; the string functions and `length`. Expressions are typed when parsed, so a
filter such as `not length(userId) gt 5` is refused up front as the service refuses it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

MAX_NODES = 500
MAX_DEPTH = 64

BOOL, STRING, INT, COLLECTION, NULL = "bool", "string", "int", "collection", "null"


class FilterError(ValueError):
    """The filter does not parse, or its parts have the wrong types."""


class Subject(Protocol):
    """What a filter looks at: a connection."""

    @property
    def connection_id(self) -> str: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def groups(self) -> Collection[str]: ...


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "string", "int", "name", or one of ( ) ,
    value: Any
    position: int


_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<int>[+-]?\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_.]*)|(?P<punct>[(),]))"
)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    end = len(text.rstrip())
    while position < end:
        match = _TOKEN.match(text, position)
        if match is None:
            raise FilterError(f"Unexpected character at position {position} of the filter.")
        if match.group("string") is not None:
            tokens.append(_Token("string", match.group("string")[1:-1].replace("''", "'"), match.start("string")))
        elif match.group("int") is not None:
            tokens.append(_Token("int", int(match.group("int")), match.start("int")))
        elif match.group("name") is not None:
            tokens.append(_Token("name", match.group("name"), match.start("name")))
        else:
            tokens.append(_Token(match.group("punct"), match.group("punct"), match.start("punct")))
        position = match.end()
    return tokens


class _Node:
    kind: str

    def evaluate(self, subject: Subject) -> Any:
        raise NotImplementedError


class _Literal(_Node):
    def __init__(self, value: Any, kind: str) -> None:
        self.value = value
        self.kind = kind

    def evaluate(self, subject: Subject) -> Any:
        return self.value


class _UserId(_Node):
    kind = STRING

    def evaluate(self, subject: Subject) -> Any:
        return subject.user_id


class _ConnectionId(_Node):
    kind = STRING

    def evaluate(self, subject: Subject) -> Any:
        return subject.connection_id


class _Groups(_Node):
    kind = COLLECTION

    def evaluate(self, subject: Subject) -> Any:
        return subject.groups


class _Not(_Node):
    kind = BOOL

    def __init__(self, operand: _Node) -> None:
        self.operand = operand

    def evaluate(self, subject: Subject) -> Any:
        return not self.operand.evaluate(subject)


class _And(_Node):
    kind = BOOL

    def __init__(self, left: _Node, right: _Node) -> None:
        self.left, self.right = left, right

    def evaluate(self, subject: Subject) -> Any:
        return bool(self.left.evaluate(subject)) and bool(self.right.evaluate(subject))


class _Or(_And):
    def evaluate(self, subject: Subject) -> Any:
        return bool(self.left.evaluate(subject)) or bool(self.right.evaluate(subject))


def _ordered(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    # Ordering against null is never true, as in OData.
    return lambda a, b: a is not None and b is not None and op(a, b)


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": _ordered(lambda a, b: a > b),
    "ge": _ordered(lambda a, b: a >= b),
    "lt": _ordered(lambda a, b: a < b),
    "le": _ordered(lambda a, b: a <= b),
}


class _Compare(_Node):
    kind = BOOL

    def __init__(self, op: str, left: _Node, right: _Node) -> None:
        self.compare = _COMPARISONS[op]
        self.left, self.right = left, right

    def evaluate(self, subject: Subject) -> Any:
        return self.compare(self.left.evaluate(subject), self.right.evaluate(subject))


class _InList(_Node):
    kind = BOOL

    def __init__(self, left: _Node, items: list[_Node]) -> None:
        self.left, self.items = left, items

    def evaluate(self, subject: Subject) -> Any:
        value = self.left.evaluate(subject)
        return any(value == item.evaluate(subject) for item in self.items)


class _InCollection(_Node):
    kind = BOOL

    def __init__(self, left: _Node, collection: _Node) -> None:
        self.left, self.collection = left, collection

    def evaluate(self, subject: Subject) -> Any:
        return self.left.evaluate(subject) in self.collection.evaluate(subject)


def _substring(s: str, start: int, length: int | None = None) -> str:
    start = max(start, 0)
    return s[start:] if length is None else s[start : start + max(length, 0)]


# name → (argument kinds, result kind, implementation). None arguments yield None (or false).
_FUNCTIONS: dict[str, tuple[tuple[tuple[str, ...], ...], str, Callable[..., Any]]] = {
    "tolower": (((STRING,),), STRING, str.lower),
    "toupper": (((STRING,),), STRING, str.upper),
    "trim": (((STRING,),), STRING, str.strip),
    "substring": (((STRING, INT), (STRING, INT, INT)), STRING, _substring),
    "concat": (((STRING, STRING),), STRING, lambda a, b: a + b),
    "indexof": (((STRING, STRING),), INT, lambda a, b: a.find(b)),
    "length": (((STRING,), (COLLECTION,)), INT, len),
    "startswith": (((STRING, STRING),), BOOL, lambda a, b: a.startswith(b)),
    "endswith": (((STRING, STRING),), BOOL, lambda a, b: a.endswith(b)),
    "contains": (((STRING, STRING),), BOOL, lambda a, b: b in a),
}


class _Call(_Node):
    def __init__(self, implementation: Callable[..., Any], args: list[_Node], kind: str) -> None:
        self.implementation, self.args, self.kind = implementation, args, kind

    def evaluate(self, subject: Subject) -> Any:
        values = [arg.evaluate(subject) for arg in self.args]
        if any(v is None for v in values):
            return False if self.kind == BOOL else None
        return self.implementation(*values)


def _fits(actual: str, expected: str) -> bool:
    return actual == expected or (actual == NULL and expected != COLLECTION)


def _comparable(left: str, right: str) -> bool:
    if COLLECTION in (left, right):
        return False
    return left == right or NULL in (left, right)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.index = 0
        self.nodes = 0
        self.depth = 0

    # --- token helpers --------------------------------------------------------------
    def _peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _peek_word(self) -> str | None:
        token = self._peek()
        return token.value.lower() if token is not None and token.kind == "name" else None

    def _take(self) -> _Token:
        token = self._peek()
        if token is None:
            raise FilterError("The filter ends too early.")
        self.index += 1
        return token

    def _expect(self, kind: str) -> None:
        token = self._take()
        if token.kind != kind:
            raise FilterError(f"Expected '{kind}' at position {token.position} of the filter.")

    def _node(self, node: _Node) -> _Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise FilterError("The filter is too complex.")
        return node

    @staticmethod
    def _require(node: _Node, kind: str, what: str) -> None:
        if node.kind != kind:
            raise FilterError(f"Invalid syntax for '{what}': type '{node.kind}', expect '{kind}'.")

    # --- grammar ----------------------------------------------------------------------
    def parse(self) -> _Node:
        node = self._or()
        if self._peek() is not None:
            raise FilterError(f"Unexpected '{self._peek().value}' at position {self._peek().position} of the filter.")
        self._require(node, BOOL, "filter")
        return node

    def _or(self) -> _Node:
        node = self._and()
        while self._peek_word() == "or":
            self._take()
            right = self._and()
            self._require(node, BOOL, "or")
            self._require(right, BOOL, "or")
            node = self._node(_Or(node, right))
        return node

    def _and(self) -> _Node:
        node = self._comparison()
        while self._peek_word() == "and":
            self._take()
            right = self._comparison()
            self._require(node, BOOL, "and")
            self._require(right, BOOL, "and")
            node = self._node(_And(node, right))
        return node

    def _comparison(self) -> _Node:
        left = self._unary()
        word = self._peek_word()
        if word in _COMPARISONS:
            self._take()
            right = self._unary()
            if not _comparable(left.kind, right.kind):
                raise FilterError(f"Cannot compare '{left.kind}' with '{right.kind}' using '{word}'.")
            return self._node(_Compare(word, left, right))
        if word == "in":
            self._take()
            return self._in(left)
        return left

    def _in(self, left: _Node) -> _Node:
        if left.kind in (COLLECTION, BOOL):
            raise FilterError(f"The left side of 'in' must be a value, not '{left.kind}'.")
        if self._peek_word() == "groups":
            self._take()
            return self._node(_InCollection(left, _Groups()))
        self._expect("(")
        items = [self._or()]
        while self._peek() is not None and self._peek().kind == ",":
            self._take()
            items.append(self._or())
        self._expect(")")
        if len(items) == 1 and items[0].kind == COLLECTION:
            return self._node(_InCollection(left, items[0]))
        for item in items:
            if not _comparable(left.kind, item.kind):
                raise FilterError(f"Cannot look for '{left.kind}' among '{item.kind}' values.")
        return self._node(_InList(left, items))

    def _unary(self) -> _Node:
        if self._peek_word() == "not":
            self._take()
            operand = self._unary()
            self._require(operand, BOOL, "not")
            return self._node(_Not(operand))
        return self._primary()

    def _primary(self) -> _Node:
        token = self._take()
        if token.kind == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise FilterError("The filter nests too deeply.")
            node = self._or()
            self._expect(")")
            self.depth -= 1
            return node
        if token.kind == "string":
            return self._node(_Literal(token.value, STRING))
        if token.kind == "int":
            return self._node(_Literal(token.value, INT))
        if token.kind != "name":
            raise FilterError(f"Unexpected '{token.value}' at position {token.position} of the filter.")
        word = token.value.lower()
        if word in ("true", "false"):
            return self._node(_Literal(word == "true", BOOL))
        if word == "null":
            return self._node(_Literal(None, NULL))
        if word == "userid":
            return self._node(_UserId())
        if word == "connectionid":
            return self._node(_ConnectionId())
        if word == "groups":
            return self._node(_Groups())
        if word in _FUNCTIONS and self._peek() is not None and self._peek().kind == "(":
            return self._call(word)
        raise FilterError(f"Unknown identifier '{token.value}' at position {token.position} of the filter.")

    def _call(self, name: str) -> _Node:
        signatures, result, implementation = _FUNCTIONS[name]
        self._expect("(")
        args = [self._or()]
        while self._peek() is not None and self._peek().kind == ",":
            self._take()
            args.append(self._or())
        self._expect(")")
        kinds = [arg.kind for arg in args]
        if not any(len(sig) == len(kinds) and all(map(_fits, kinds, sig)) for sig in signatures):
            expected = " or ".join("(" + ", ".join(sig) + ")" for sig in signatures)
            raise FilterError(f"'{name}' takes {expected}, not ({', '.join(kinds)}).")
        return self._node(_Call(implementation, args, result))


class Filter:
    """A parsed filter; `matches(connection)` says whether it selects that connection."""

    __slots__ = ("text", "_root")

    def __init__(self, text: str, root: _Node) -> None:
        self.text = text
        self._root = root

    def matches(self, subject: Subject) -> bool:
        return bool(self._root.evaluate(subject))


@lru_cache(maxsize=512)
def parse_filter(text: str) -> Filter:
    """Parse once; the same filter string sent again (a common pattern) is served from cache."""
    if not text.strip():
        raise FilterError("The filter is empty.")
    return Filter(text, _Parser(text).parse())
