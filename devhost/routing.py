"""Route templates of HTTP triggers, matched the way the Functions host (ASP.NET routing) does.

A template is a list of segments separated by `/`. A segment is literal text, a parameter
`{name}`, or a mix of both (`{name}.{ext}`). Parameters may be optional `{name?}`, have a
default `{name=value}`, carry constraints `{id:int}`, `{id:guid}`, `{x:alpha}`,
`{x:regex(...)}`, `{x:minlength(2):maxlength(9)}`, or catch the rest of the path
`{*rest}`. Literals compare case-insensitively; a doubled brace is a literal brace.

When several templates match a path, the most specific wins: segment by segment from the
left, a literal beats a mixed segment, which beats a constrained parameter, which beats a
plain parameter, which beats a catch-all. A template whose methods exclude the request's
method does not match at all, so the next one gets its chance, and with none left the
answer is 404 (the host never answers 405). Parameter constraints are checked by
`route_constraints.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import unquote

from devhost.route_constraints import Constraint, RouteTemplateError, build_constraint

__all__ = ["RouteTemplate", "RouteTemplateError", "split_path"]


# --- templates --------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    name: str
    optional: bool = False
    catch_all: bool = False
    default: str | None = None
    constraints: tuple[Constraint, ...] = ()

    @property
    def may_be_absent(self) -> bool:
        return self.optional or self.catch_all or self.default is not None

    def accepts(self, value: str) -> bool:
        return all(c(value) for c in self.constraints)


Part = str | Parameter


@dataclass(frozen=True)
class Segment:
    parts: tuple[Part, ...]
    # Only mixed segments ("{name}.{ext}") need a pattern; the rest compare directly.
    pattern: re.Pattern[str] | None = None

    # Read for every segment of every route a request is matched against: worked out once.
    @cached_property
    def literal(self) -> str | None:
        return self.parts[0] if len(self.parts) == 1 and isinstance(self.parts[0], str) else None

    @cached_property
    def parameter(self) -> Parameter | None:
        return self.parts[0] if len(self.parts) == 1 and isinstance(self.parts[0], Parameter) else None

    @property
    def precedence(self) -> int:
        if self.literal is not None:
            return 1
        parameter = self.parameter
        if parameter is None:
            return 2
        if parameter.catch_all:
            return 5
        return 3 if parameter.constraints else 4


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONSTRAINT_NAME = re.compile(r"[A-Za-z]+")


def _split_segments(template: str) -> list[str]:
    segments, current, depth, i = [], [], 0, 0
    while i < len(template):
        char = template[i]
        if char in "{}" and template[i : i + 2] in ("{{", "}}"):
            current.append(template[i : i + 2])
            i += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                raise RouteTemplateError(f"unbalanced '}}' in route template '{template}'")
        if char == "/" and depth == 0:
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    if depth != 0:
        raise RouteTemplateError(f"unbalanced '{{' in route template '{template}'")
    segments.append("".join(current))
    return segments


def _parse_constraints(text: str, template: str) -> tuple[list[Constraint], str]:
    """Parses `:name(args):name...` from the start of `text`; returns what follows them."""
    constraints = []
    while text.startswith(":"):
        match = _CONSTRAINT_NAME.match(text, 1)
        if not match:
            raise RouteTemplateError(f"empty constraint in route template '{template}'")
        name, rest = match.group(), text[match.end() :]
        args = None
        if rest.startswith("("):
            # Arguments may hold ':' and ')' (regexes do), so the closing parenthesis is the
            # one after which the parameter can end or another constraint can start.
            end = None
            for candidate in (m.start() for m in re.finditer(r"\)", rest)):
                after = rest[candidate + 1 :]
                if after in ("", "?") or after.startswith("=") or re.match(r":[A-Za-z]+(\(|:|=|\?|$)", after):
                    end = candidate
                    break
            if end is None:
                raise RouteTemplateError(f"unclosed constraint '{name}(' in route template '{template}'")
            args, rest = rest[1:end], rest[end + 1 :]
        constraints.append(build_constraint(name, args))
        text = rest
    return constraints, text


def _parse_parameter(body: str, template: str) -> Parameter:
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    match = re.match(r"[^:=?]*", body)
    name = match.group() if match else ""
    if not _NAME.match(name):
        raise RouteTemplateError(f"invalid parameter name '{name}' in route template '{template}'")
    rest = body[len(name) :]
    constraints, rest = _parse_constraints(rest, template)
    optional = False
    default = None
    if rest.startswith("="):
        default = rest[1:]
        rest = ""
    elif rest == "?":
        optional = True
        rest = ""
    if rest:
        raise RouteTemplateError(f"cannot parse parameter '{{{body}}}' in route template '{template}'")
    if catch_all and optional:
        raise RouteTemplateError(f"a catch-all parameter cannot be optional: '{template}'")
    if optional and default is not None:
        raise RouteTemplateError(f"an optional parameter cannot have a default value: '{template}'")
    return Parameter(name=name, optional=optional, catch_all=catch_all, default=default, constraints=tuple(constraints))


def _parse_segment(text: str, template: str) -> Segment:
    parts: list[Part] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        if text[i : i + 2] in ("{{", "}}"):
            literal.append(text[i])
            i += 2
            continue
        if text[i] == "{":
            if literal:
                parts.append("".join(literal))
                literal = []
            # Find the closing brace, skipping doubled braces inside (regex quantifiers).
            j, body = i + 1, []
            while j < len(text):
                if text[j : j + 2] in ("{{", "}}"):
                    body.append(text[j])
                    j += 2
                    continue
                if text[j] == "}":
                    break
                body.append(text[j])
                j += 1
            parts.append(_parse_parameter("".join(body), template))
            i = j + 1
            continue
        if text[i] == "}":
            raise RouteTemplateError(f"unbalanced '}}' in route template '{template}'")
        literal.append(text[i])
        i += 1
    if literal:
        parts.append("".join(literal))
    if not parts:
        raise RouteTemplateError(f"empty segment in route template '{template}'")
    for a, b in zip(parts, parts[1:], strict=False):
        if isinstance(a, Parameter) and isinstance(b, Parameter):
            raise RouteTemplateError(f"two parameters must be separated by literal text: '{template}'")
    pattern = None
    if len(parts) > 1:
        for part in parts:
            if isinstance(part, Parameter) and part.catch_all:
                raise RouteTemplateError(f"a catch-all parameter must be a whole segment: '{template}'")
            if isinstance(part, Parameter) and part.optional and part is not parts[-1]:
                raise RouteTemplateError(f"an optional parameter must end its segment: '{template}'")
        # ASP.NET matches mixed segments right to left, so the last literal splits first:
        # greedy groups give the same answer ("{name}.{ext}" on "a.b.pdf" is "a.b" + "pdf").
        regex = []
        for part in parts:
            if isinstance(part, str):
                regex.append(re.escape(part))
            elif part.optional:
                regex.append(f"(?P<{part.name}>.*)")
            else:
                regex.append(f"(?P<{part.name}>.+)")
        pattern = re.compile("".join(regex), re.IGNORECASE | re.DOTALL)
    return Segment(parts=tuple(parts), pattern=pattern)


@dataclass(frozen=True)
class RouteTemplate:
    """A parsed route template; `match` turns a path into route parameters."""

    text: str
    segments: tuple[Segment, ...]

    @classmethod
    def parse(cls, template: str) -> RouteTemplate:
        text = template.strip()
        if text.startswith("~/"):
            text = text[2:]
        text = text.strip("/")
        segments = tuple(_parse_segment(s, template) for s in _split_segments(text)) if text else ()
        names: set[str] = set()
        for index, segment in enumerate(segments):
            for part in segment.parts:
                if isinstance(part, Parameter):
                    if part.name.lower() in names:
                        raise RouteTemplateError(f"parameter '{part.name}' appears twice in '{template}'")
                    names.add(part.name.lower())
                    if part.catch_all and index != len(segments) - 1:
                        raise RouteTemplateError(f"a catch-all parameter must be the last segment: '{template}'")
        # Once a segment may be absent, every later one must be too, or the path is ambiguous.
        seen_absent = False
        for segment in segments:
            parameter = segment.parameter
            absent = parameter is not None and parameter.may_be_absent
            if seen_absent and not absent:
                raise RouteTemplateError(f"optional parameters must come last: '{template}'")
            seen_absent = seen_absent or absent
        return cls(text=text, segments=segments)

    @property
    def precedence(self) -> tuple[int, ...]:
        return tuple(s.precedence for s in self.segments)

    @property
    def shape(self) -> tuple[object, ...]:
        """What the template matches, regardless of parameter names (to spot duplicates)."""
        return tuple(
            tuple(
                part.casefold() if isinstance(part, str)
                else (part.catch_all, part.may_be_absent, tuple((c.name, c.args) for c in part.constraints))
                for part in segment.parts
            )
            for segment in self.segments
        )

    def match(self, path_segments: list[str]) -> dict[str, str] | None:
        """Route parameters for an already split and decoded path, or None."""
        values: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            parameter = segment.parameter
            if parameter is not None and parameter.catch_all:
                rest = "/".join(path_segments[index:])
                if rest:
                    if not parameter.accepts(rest):
                        return None
                    values[parameter.name] = rest
                elif parameter.default is not None:
                    values[parameter.name] = parameter.default
                return values
            if index >= len(path_segments):
                if parameter is None or not parameter.may_be_absent:
                    return None
                if parameter.default is not None:
                    values[parameter.name] = parameter.default
                continue
            value = path_segments[index]
            literal = segment.literal
            if literal is not None:
                if value.casefold() != literal.casefold():
                    return None
            elif parameter is not None:
                if value == "" or not parameter.accepts(value):
                    return None
                values[parameter.name] = value
            elif not self._match_mixed(segment, value, values):
                return None
        if len(path_segments) > len(self.segments):
            return None
        return values

    @staticmethod
    def _match_mixed(segment: Segment, value: str, values: dict[str, str]) -> bool:
        assert segment.pattern is not None
        found = segment.pattern.fullmatch(value)
        if not found:
            return False
        for part in segment.parts:
            if isinstance(part, Parameter):
                captured = found.group(part.name)
                if captured == "":
                    if part.default is not None:
                        values[part.name] = part.default
                    continue
                if not part.accepts(captured):
                    return False
                values[part.name] = captured
        return True


def split_path(raw_path: str) -> list[str]:
    """Splits a raw (still percent-encoded) URL path into decoded segments.

    Splitting before decoding keeps an encoded `%2F` inside its segment. One trailing slash
    is ignored, as ASP.NET routing ignores it.
    """
    path = raw_path.split("?", 1)[0].strip("/")
    if not path:
        return []
    return [unquote(s) for s in path.split("/")]
