"""Reads the few Bicep constructs the deployment tests need, from the text alone.

The Bicep compiler cannot be installed here, so the tests look at the source: top-level
`param` and `var` declarations, `module` blocks with their `params`, resource loops over
module parameters, and object literals such as main.bicep's `appSettings`. This is not a
Bicep parser; it understands the layout the project's templates use (one property per
line, blocks closed by a brace at the same indent) and fails loudly on anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_PARAM = re.compile(r"^param\s+(\w+)\s+([\w.\[\]]+)(\s*=\s*(.+))?$")
_VAR = re.compile(r"^var\s+(\w+)\s*=\s*(.*)$")
_MODULE = re.compile(r"^module\s+(\w+)\s+'([^']+)'\s*=\s*(?:if\s*\(.*\)\s*)?\{\s*$")
_RESOURCE = re.compile(r"^resource\s+(\w+)\s+'([^'@]+)@[^']+'\s*(existing\s*)?=\s*(.*)$")
_STRING = re.compile(r"^'((?:[^'\\]|\\.)*)'$")
_INTERPOLATION = re.compile(r"\$\{(\w+)\}")


@dataclass
class Module:
    symbol: str
    path: str
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Resource:
    symbol: str
    type: str
    existing: bool
    header: str


@dataclass
class BicepFile:
    path: Path
    lines: list[str]
    params: dict[str, str | None]
    vars: dict[str, str]
    modules: dict[str, Module]
    resources: dict[str, Resource]

    def block(self, first_line: int) -> list[str]:
        """The lines of the brace- or bracket-delimited value that opens on `first_line`."""
        depth = 0
        opened = False
        out: list[str] = []
        for line in self.lines[first_line:]:
            out.append(line)
            depth += _depth_change(_strip_comment(line))
            opened = opened or depth > 0
            if opened and depth <= 0:
                return out
        raise ValueError(f"{self.path}: unclosed block from line {first_line + 1}")


def _strip_comment(line: str) -> str:
    """The line without a trailing // comment (quotes respected: URLs contain //)."""
    in_string = False
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "'" and (i == 0 or line[i - 1] != "\\"):
            in_string = not in_string
        elif not in_string and line.startswith("//", i):
            return line[:i]
        i += 1
    return line


def _depth_change(code: str) -> int:
    without_strings = re.sub(r"'(?:[^'\\]|\\.)*'", "''", code)
    return sum(without_strings.count(c) for c in "{[(") - sum(without_strings.count(c) for c in "}])")


def parse(path: Path) -> BicepFile:
    lines = path.read_text().splitlines()
    params: dict[str, str | None] = {}
    vars_: dict[str, str] = {}
    modules: dict[str, Module] = {}
    resources: dict[str, Resource] = {}
    result = BicepFile(path, lines, params, vars_, modules, resources)
    for number, raw in enumerate(lines):
        line = _strip_comment(raw).rstrip()
        if match := _PARAM.match(line):
            params[match.group(1)] = match.group(4)
        elif match := _VAR.match(line):
            value = match.group(2).strip()
            if value in ("{", "[") or _depth_change(value) > 0:
                value = "\n".join(result.block(number))[len(f"var {match.group(1)} = ") :]
            vars_[match.group(1)] = value
        elif match := _MODULE.match(line):
            module = Module(match.group(1), match.group(2))
            module.params = _module_params(result.block(number), path)
            modules[module.symbol] = module
        elif match := _RESOURCE.match(line):
            resources[match.group(1)] = Resource(match.group(1), match.group(2), bool(match.group(3)), line)
    return result


def _module_params(block: list[str], path: Path) -> dict[str, str]:
    """Name → expression of the `params: { ... }` section of a module block."""
    params: dict[str, str] = {}
    inside = False
    depth = 0
    pending: tuple[str, list[str]] | None = None
    for raw in block:
        line = _strip_comment(raw).rstrip()
        if not inside:
            if re.match(r"^\s*params:\s*\{\s*$", line):
                inside = True
                depth = 1
            continue
        if pending is not None:
            pending[1].append(line.strip())
            depth += _depth_change(line)
            if depth == 1:
                params[pending[0]] = " ".join(pending[1])
                pending = None
            continue
        change = _depth_change(line)
        if depth == 1 and (match := re.match(r"^\s*(\w+):\s*(.*)$", line)):
            name, value = match.group(1), match.group(2).strip()
            if change > 0:
                pending = (name, [value])
                depth += change
                continue
            params[name] = value
            continue
        depth += change
        if depth == 0:
            return params
    if inside:
        raise ValueError(f"{path}: unclosed params block")
    return params


def object_keys(text: str) -> dict[str, str]:
    """Top-level `key: value` pairs of a multi-line object literal `{ ... }`."""
    pairs: dict[str, str] = {}
    depth = 0
    for raw in text.splitlines():
        line = _strip_comment(raw).rstrip()
        if depth == 1 and (match := re.match(r"^\s*'?([\w.\-:]+)'?:\s*(.*)$", line)):
            pairs[match.group(1)] = match.group(2).strip()
        depth += _depth_change(line)
    if not pairs:
        raise ValueError("not a multi-line object literal")
    return pairs


def array_items(text: str) -> list[str]:
    """The items of a multi-line array literal `[ ... ]`, one per line."""
    body = text.strip()
    if not (body.startswith("[") and body.endswith("]")):
        raise ValueError(f"not an array literal: {text!r}")
    return [_strip_comment(line).strip() for line in body[1:-1].splitlines() if _strip_comment(line).strip()]


def evaluate_string(expression: str, variables: dict[str, str]) -> str:
    """The value of a string literal (with `${var}` interpolation) or of a `var` holding one.

    Only variables that are themselves string literals can be resolved; anything else
    (parameters, module outputs, function calls) raises, so a test never mistakes an
    expression it cannot read for a name it checked.
    """
    expression = expression.strip()
    if match := _STRING.match(expression):
        def substitute(found: re.Match[str]) -> str:
            name = found.group(1)
            if name not in variables:
                raise ValueError(f"cannot resolve ${{{name}}}")
            return evaluate_string(variables[name], variables)

        return _INTERPOLATION.sub(substitute, match.group(1))
    if re.fullmatch(r"\w+", expression) and expression in variables:
        return evaluate_string(variables[expression], variables)
    raise ValueError(f"not a constant string expression: {expression!r}")
