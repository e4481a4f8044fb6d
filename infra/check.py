"""Checks infra/bicep without an Azure login: every template parses, and every parameters
file fits main.bicep.

Runs in .venv-infra (scripts/ensure_checkov.sh), whose checkov brings pycep, a Bicep
parser: the Bicep compiler itself cannot be installed from the registries this project
uses. `make infra-check` runs it before checkov and tests/infra.

The parameter lint, for each main*.parameters.json:
- it names only parameters main.bicep declares, and gives every parameter without a default
  (a production file, main.prod.parameters.json, gives every parameter: each value is a
  decision someone made, not a default that happened);
- a literal has the declared type and respects @allowed, @minValue/@maxValue and
  @minLength/@maxLength;
- a @secure() parameter is never a literal: it comes from the environment (`${VAR}`), an azd
  function (`$(secretOrRandomPassword ...)`) or a Key Vault reference.

Usage: python infra/check.py [BICEP_DIR]; exits 1 and lists the problems when any.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from pycep import BicepParser

BICEP_DIR = Path(__file__).resolve().parent / "bicep"
SUBSTITUTION = re.compile(r"^\$(\{[A-Za-z_][A-Za-z0-9_]*\}|\(.+\))$")
PYTHON_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "bool": (bool,), "string": (str,), "object": (dict,), "array": (list,)}


def parse_templates(bicep_dir: Path) -> tuple[dict[str, Any], list[str]]:
    """Parses every .bicep file; returns main.bicep's parameters and the parse failures."""
    parser = BicepParser()
    problems: list[str] = []
    main: dict[str, Any] = {}
    for path in sorted(bicep_dir.rglob("*.bicep")):
        try:
            parsed = parser.parse(file_path=path)
        except Exception as exc:  # noqa: BLE001 - any parser error is a finding to print
            problems.append(f"{path.relative_to(bicep_dir)}: does not parse: {str(exc).splitlines()[0][:300]}")
            continue
        if path == bicep_dir / "main.bicep":
            main = parsed.get("parameters", {})
    if not main and not problems:
        problems.append("main.bicep declares no parameters")
    return main, problems


def _decorators(declared: dict[str, Any]) -> dict[str, Any]:
    return {d["type"]: d.get("argument") for d in declared.get("decorators", [])}


def lint_parameters_file(path: Path, declared: dict[str, dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    name = path.name
    values: dict[str, Any] = json.loads(path.read_text())["parameters"]
    for unknown in sorted(set(values) - set(declared)):
        problems.append(f"{name}: {unknown} is not a parameter of main.bicep")
    production = ".prod." in name
    wanted = set(declared) if production else {p for p, d in declared.items() if d.get("default") is None}
    for missing in sorted(wanted - set(values)):
        problems.append(
            f"{name}: {missing} is not given" + (" (a production file sets every parameter)" if production else " and has no default")
        )
    for param, entry in sorted(values.items()):
        if param not in declared:
            continue
        spec = declared[param]
        rules = _decorators(spec)
        if "reference" in entry:
            if "keyVault" not in entry["reference"]:
                problems.append(f"{name}: {param} is a reference but not to Key Vault")
            continue
        value = entry.get("value")
        if isinstance(value, str) and SUBSTITUTION.match(value):
            if spec["type"] != "string":
                problems.append(f"{name}: {param} is a {spec['type']}, but only strings are filled from the environment")
            continue
        if "secure" in rules:
            problems.append(f"{name}: {param} is @secure() but holds a literal; take it from the environment or Key Vault")
            continue
        expected = PYTHON_TYPES.get(spec["type"])
        # bool is an int in Python: an int parameter must not be given true/false.
        if expected is None or not isinstance(value, expected) or (spec["type"] == "int" and isinstance(value, bool)):
            problems.append(f"{name}: {param} = {value!r} is not a {spec['type']}")
            continue
        allowed = rules.get("allowed")
        if allowed is not None and value not in allowed:
            problems.append(f"{name}: {param} = {value!r} is not one of {allowed}")
        if "min_value" in rules and value < rules["min_value"]:
            problems.append(f"{name}: {param} = {value} is below @minValue({rules['min_value']})")
        if "max_value" in rules and value > rules["max_value"]:
            problems.append(f"{name}: {param} = {value} is above @maxValue({rules['max_value']})")
        if "min_length" in rules and len(value) < rules["min_length"]:
            problems.append(f"{name}: {param} is shorter than @minLength({rules['min_length']})")
        if "max_length" in rules and len(value) > rules["max_length"]:
            problems.append(f"{name}: {param} is longer than @maxLength({rules['max_length']})")
    return problems


def check(bicep_dir: Path) -> list[str]:
    declared, problems = parse_templates(bicep_dir)
    files = sorted(bicep_dir.glob("main*.parameters.json"))
    if not files:
        problems.append("no main*.parameters.json")
    if declared:
        for path in files:
            problems.extend(lint_parameters_file(path, declared))
    return problems


def main() -> int:
    bicep_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else BICEP_DIR
    problems = check(bicep_dir)
    templates = len(list(bicep_dir.rglob("*.bicep")))
    files = [p.name for p in sorted(bicep_dir.glob("main*.parameters.json"))]
    if problems:
        print("\n".join(problems))
        print(f"infra check: {len(problems)} problem(s)")
        return 1
    print(f"infra check: {templates} templates parse; {', '.join(files)} fit main.bicep")
    return 0


if __name__ == "__main__":
    sys.exit(main())
