"""Constraints of route template parameters (`{id:int}`, `{id:guid}`, `{x:regex(...)}`,
`{x:minlength(2):maxlength(9)}` ...), checked the way the Functions host's ASP.NET routing
checks them, and the error of a template the host would refuse at startup.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime


class RouteTemplateError(ValueError):
    """A route template the host would refuse at startup."""


# --- constraints ------------------------------------------------------------------------

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_INTEGER = re.compile(r"^[+-]?\d+$")


def _as_int(value: str, bounds: tuple[int, int]) -> int | None:
    if not _INTEGER.match(value):
        return None
    number = int(value)
    return number if bounds[0] <= number <= bounds[1] else None


def _is_float(value: str) -> bool:
    try:
        number = float(value)
    except ValueError:
        return False
    # .NET's invariant parsing accepts neither "nan" nor "inf" spelled this way.
    return math.isfinite(number) and not value.strip().lower().startswith(("nan", "inf", "+inf", "-inf"))


def _is_guid(value: str) -> bool:
    # Guid.TryParse accepts the "D", "N", "B" and "P" formats.
    text = value.strip()
    if len(text) == 38 and ((text[0], text[-1]) in (("{", "}"), ("(", ")"))):
        text = text[1:-1]
    if len(text) not in (32, 36):
        return False
    if len(text) == 36 and [i for i, c in enumerate(text) if c == "-"] != [8, 13, 18, 23]:
        return False
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _arg_ints(name: str, args: str | None, count: int) -> list[int]:
    parts = [] if args is None else [p.strip() for p in args.split(",")]
    if len(parts) != count or not all(_INTEGER.match(p) for p in parts):
        raise RouteTemplateError(f"constraint '{name}' needs {count} integer argument(s), got '{args}'")
    return [int(p) for p in parts]


@dataclass(frozen=True)
class Constraint:
    """One inline constraint such as `int` or `range(1,10)`."""

    name: str
    args: str | None
    check: Callable[[str], bool] = field(compare=False, repr=False)

    def __call__(self, value: str) -> bool:
        return self.check(value)


def build_constraint(name: str, args: str | None) -> Constraint:
    """The constraint `name(args)`; unknown names fail like the host's startup does."""
    key = name.lower()
    check: Callable[[str], bool]
    if key in ("int", "long", "bool", "guid", "alpha", "float", "double", "decimal", "datetime") and args is not None:
        raise RouteTemplateError(f"constraint '{name}' takes no arguments")
    if key == "int":
        check = lambda v: _as_int(v, _INT32) is not None  # noqa: E731 - one predicate per constraint, chosen by the branches above
    elif key == "long":
        check = lambda v: _as_int(v, _INT64) is not None  # noqa: E731 - one predicate per constraint, chosen by the branches above
    elif key == "bool":
        check = lambda v: v.lower() in ("true", "false")  # noqa: E731 - one predicate per constraint, chosen by the branches above
    elif key == "guid":
        check = _is_guid
    elif key == "alpha":
        check = lambda v: bool(re.fullmatch(r"[A-Za-z]+", v))  # noqa: E731 - one predicate per constraint, chosen by the branches above
    elif key in ("float", "double", "decimal"):
        check = _is_float
    elif key == "datetime":
        check = _is_datetime
    elif key == "minlength":
        (low,) = _arg_ints(name, args, 1)
        check = lambda v: len(v) >= low  # noqa: E731 - one predicate per constraint, chosen by the branches above
    elif key == "maxlength":
        (high,) = _arg_ints(name, args, 1)
        check = lambda v: len(v) <= high  # noqa: E731 - one predicate per constraint, chosen by the branches above
    elif key == "length":
        count = 1 if args is not None and "," not in args else 2
        bounds = _arg_ints(name, args, count)
        low, high = (bounds[0], bounds[0]) if count == 1 else (bounds[0], bounds[1])
        check = lambda v: low <= len(v) <= high  # noqa: E731 - one predicate per constraint, chosen by the branches above
    elif key in ("min", "max", "range"):
        limits = _arg_ints(name, args, 2 if key == "range" else 1)
        low = limits[0] if key in ("min", "range") else _INT64[0]
        high = limits[-1] if key in ("max", "range") else _INT64[1]

        def check(v: str, low: int = low, high: int = high) -> bool:
            number = _as_int(v, _INT64)
            return number is not None and low <= number <= high

    elif key == "regex":
        if not args:
            raise RouteTemplateError("constraint 'regex' needs a pattern")
        try:
            # ASP.NET matches culture-invariant and case-insensitive, and does not anchor.
            pattern = re.compile(args, re.IGNORECASE)
        except re.error as exc:
            raise RouteTemplateError(f"regex constraint '{args}' does not compile: {exc}") from None
        check = lambda v: pattern.search(v) is not None  # noqa: E731 - one predicate per constraint, chosen by the branches above
    else:
        raise RouteTemplateError(f"unknown route constraint '{name}'")
    return Constraint(name=key, args=args, check=check)
