"""The table of an app's HTTP routes: every route tried from the most to the least specific
template (`routing.py` parses and matches the templates), the first whose methods allow the
request's method and whose template matches its path answering, and the pairs of routes
that can never both be reached."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from devhost.routing import RouteTemplate

__all__ = ["Route", "RouteMatch", "RouteTable", "find_conflicts"]


@dataclass(frozen=True)
class Route[T]:
    template: RouteTemplate
    methods: frozenset[str] | None  # None: every method
    target: T

    def allows(self, method: str) -> bool:
        return self.methods is None or method.upper() in self.methods


@dataclass(frozen=True)
class RouteMatch[T]:
    route: Route[T]
    params: dict[str, str]


class RouteTable[T]:
    """Every HTTP route of an app, tried from the most to the least specific."""

    def __init__(self, routes: Iterable[tuple[str, Iterable[str] | None, T]]) -> None:
        built = [
            Route(
                template=RouteTemplate.parse(template),
                methods=frozenset(m.upper() for m in methods) if methods else None,
                target=target,
            )
            for template, methods, target in routes
        ]
        self.routes: list[Route[T]] = sorted(built, key=lambda r: (r.template.precedence, r.template.text.lower()))
        # A route whose first segment is a literal can only match paths that start with it.
        # Each first segment a route names gets the routes that could match it (its own and
        # those that start with a parameter), in the table's order; any other path is tried
        # against the parameter-first routes alone. The answer is the full scan's, without
        # trying the dozens of routes that start with another word.
        firsts = [_first_literal(route) for route in self.routes]
        self._open: list[Route[T]] = [route for route, first in zip(self.routes, firsts, strict=True) if first is None]
        self._by_first: dict[str, list[Route[T]]] = {
            key: [route for route, first in zip(self.routes, firsts, strict=True) if first in (key, None)]
            for key in {first for first in firsts if first is not None}
        }

    def resolve(self, method: str, path_segments: list[str]) -> RouteMatch[T] | None:
        candidates = self._by_first.get(path_segments[0].casefold(), self._open) if path_segments else self._open
        for route in candidates:
            if not route.allows(method):
                continue
            params = route.template.match(path_segments)
            if params is not None:
                return RouteMatch(route=route, params=params)
        return None


def _first_literal[T](route: Route[T]) -> str | None:
    segments = route.template.segments
    literal = segments[0].literal if segments else None
    return literal.casefold() if literal is not None else None


def find_conflicts[T](table: RouteTable[T]) -> list[tuple[Route[T], Route[T]]]:
    """Pairs of routes that match the same paths with overlapping methods: the second never runs."""
    conflicts = []
    for index, first in enumerate(table.routes):
        for second in table.routes[index + 1 :]:
            if first.template.shape != second.template.shape:
                continue
            if first.methods is None or second.methods is None or first.methods & second.methods:
                conflicts.append((first, second))
    return conflicts
