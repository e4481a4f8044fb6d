"""The import structure of `shared_code/` stays a set of floors a reader can walk down.

Two rules, read from the source with `ast` (no service needed):

- no cycle among the module-level imports of `shared_code` modules: a cycle means two
  modules each need the other to be loaded first, which is what the function-local
  imports used to paper over;
- no `import` of a `shared_code` module inside a function: such an import exists only to
  dodge a cycle (the cycle is the bug; pass the piece in through the context instead).
  Lazy imports of heavy optional third-party packages are allowed.

Every module is also imported for real, so a layout change that breaks an import path
fails here before any service starts.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

from tests.support import source

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "shared_code"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The shared_code modules an import statement loads (a `from pkg import mod` loads `pkg.mod`)."""
    found: set[str] = set()
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        source = _resolve(module, path, node)
        names = [source] + [f"{source}.{alias.name}" for alias in node.names]
    for name in names:
        if name in known:
            found.add(name)
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_graph(modules: dict[str, Path]) -> tuple[dict[str, set[str]], list[str]]:
    """Module-level import edges between shared_code modules, and every function-local
    import of a shared_code module (as `module:line`)."""
    known = set(modules)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    local: list[str] = []

    for module, path in modules.items():
        tree = source.parse(path)

        def visit(node: ast.AST, in_function: bool, module: str = module, path: Path = path) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and _is_type_checking(child):
                    continue  # typing-only imports are not executed
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    targets = _targets(module, path, child, known)
                    if in_function and targets:
                        local.append(f"{module}:{child.lineno}")
                    elif not in_function:
                        graph[module] |= targets
                    continue
                nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                visit(child, nested)

        visit(tree, False)
    return graph, local


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = {name: WHITE for name in graph}
    stack: list[str] = []

    def walk(name: str) -> list[str] | None:
        colour[name] = GREY
        stack.append(name)
        for target in sorted(graph[name]):
            # A package's __init__ importing its own children is not a cycle of meaning.
            if target.startswith(name + "."):
                continue
            if colour[target] == GREY:
                return stack[stack.index(target) :] + [target]
            if colour[target] == WHITE:
                found = walk(target)
                if found:
                    return found
        stack.pop()
        colour[name] = BLACK
        return None

    for name in sorted(graph):
        if colour[name] == WHITE:
            found = walk(name)
            if found:
                return found
    return None


MODULES = _modules()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_shared_code_module_imports(module: str) -> None:
    importlib.import_module(module)


def test_shared_code_has_no_import_cycle() -> None:
    graph, _ = import_graph(MODULES)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_function_imports_a_shared_code_module() -> None:
    _, local = import_graph(MODULES)
    assert local == [], f"function-local imports of shared_code modules (pass it in through the context): {local}"


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The check above is only worth something if it can see a cycle at all."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_services_are_grouped_by_area() -> None:
    """A reader finds where a feature lives from the folder names alone: no loose modules
    at the top of services/, and the plumbing lives beside it, not inside it."""
    services = ROOT / PACKAGE / "services"
    loose = sorted(p.name for p in services.glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"modules outside an area folder: {loose}"
    areas = sorted(p.name for p in services.iterdir() if p.is_dir() and not p.name.startswith("__"))
    assert areas == ["admin", "certificates", "content", "live", "notifications", "payments", "privacy", "progress"]


def test_floors_point_down() -> None:
    """The plumbing serves every area and so imports none; only the bootstrap (the top
    floor) and the HTTP layer reach up to it; adapters know nothing of services."""
    graph, _ = import_graph(MODULES)
    wrong = []
    for module, targets in graph.items():
        for target in targets:
            if module.startswith(("shared_code.platform", "shared_code.adapters")) and target.startswith(
                "shared_code.services"
            ):
                wrong.append(f"{module} -> {target}")
            if target == "shared_code.bootstrap" and not module.startswith("shared_code.http"):
                wrong.append(f"{module} -> {target}")
            if module.startswith("shared_code.adapters") and target.startswith("shared_code.platform"):
                wrong.append(f"{module} -> {target}")
    assert wrong == []


# --- the rules apart from I/O ------------------------------------------------------------
DOMAIN = f"{PACKAGE}.domain"
DOMAIN_MAY_IMPORT = {"__future__", "pydantic", "pydantic_core", "annotated_types"}
# Standard-library modules that reach the network, the disk, other processes or the clock:
# a rule that needs one is not a rule apart from I/O (times come in as arguments).
# Modules of those packages that only transform text (percent-encoding a file name).
PURE_IN_IO_PACKAGES = {"urllib.parse"}
IO_STDLIB = {"asyncio", "socket", "ssl", "http", "urllib", "subprocess", "sqlite3", "shutil", "tempfile", "os", "time"}


def _top_level_imports(path: Path, module: str) -> list[str]:
    """Every module a file imports, wherever the import statement stands."""
    found: list[str] = []
    for node in ast.walk(source.parse(path)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append(_resolve(module, path, node))
    return found


def foreign_imports(module: str, imported: list[str]) -> list[str]:
    """What a domain module imports beyond the standard library, pydantic and domain/."""
    wrong = []
    for name in imported:
        top = name.split(".")[0]
        if name == DOMAIN or name.startswith(DOMAIN + "."):
            continue
        if top in DOMAIN_MAY_IMPORT or (top in sys.stdlib_module_names and top not in IO_STDLIB):
            continue
        if name in PURE_IN_IO_PACKAGES:
            continue
        wrong.append(f"{module} imports {name}")
    return wrong


def test_domain_modules_import_only_the_standard_library_pydantic_and_each_other() -> None:
    domain = {name: path for name, path in MODULES.items() if name == DOMAIN or name.startswith(DOMAIN + ".")}
    assert len(domain) > 1, "the domain package holds the rules"
    wrong = [w for name, path in domain.items() for w in foreign_imports(name, _top_level_imports(path, name))]
    assert wrong == [], f"domain modules must not reach stores, services or I/O: {wrong}"


def test_the_domain_check_sees_a_forbidden_import() -> None:
    """The check above is only worth something if it can see an adapter, a service or I/O."""
    assert foreign_imports("shared_code.domain.x", ["dataclasses", "pydantic", "shared_code.domain.fields"]) == []
    assert foreign_imports("shared_code.domain.x", ["shared_code.adapters.redis.live"]) != []
    assert foreign_imports("shared_code.domain.x", ["shared_code.services.progress.watch"]) != []
    assert foreign_imports("shared_code.domain.x", ["redis.exceptions"]) != []
    assert foreign_imports("shared_code.domain.x", ["asyncio"]) != []


# --- modules a reader can hold in mind ----------------------------------------------------
MAX_LINES = 400
SIZED_FOLDERS = ("shared_code", "functions", "devhost", "bench")

# Over the limit today, each with the reason it is not split yet. Shrink this, never grow it.
TOO_LONG_FOR_NOW: set[str] = set()


def long_modules() -> dict[str, int]:
    found = {}
    for folder in SIZED_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            lines = len(path.read_text().splitlines())
            if lines > MAX_LINES:
                found[str(path.relative_to(ROOT))] = lines
    return found


def test_no_module_is_over_four_hundred_lines() -> None:
    long = long_modules()
    over = {path: lines for path, lines in long.items() if path not in TOO_LONG_FOR_NOW}
    assert over == {}, f"split these along their seams (rules apart from I/O, one concern each): {over}"
    stale = sorted(path for path in TOO_LONG_FOR_NOW if path not in long)
    assert stale == [], f"no longer over {MAX_LINES} lines, drop them from TOO_LONG_FOR_NOW: {stale}"
