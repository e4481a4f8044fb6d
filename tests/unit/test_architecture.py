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
from pathlib import Path

import pytest

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
        tree = ast.parse(path.read_text(), filename=str(path))

        def visit(node: ast.AST, in_function: bool) -> None:
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
    assert areas == ["admin", "content", "live", "payments", "progress"]


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
