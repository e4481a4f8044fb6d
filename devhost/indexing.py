"""Indexing the app: import `function_app.py`, find its FunctionApp, read every function once.

This follows the Python worker's "worker indexing" of the v2 programming model: the app
directory goes on `sys.path`, `function_app.py` is imported, the one top-level
`FunctionRegister` instance (a `FunctionApp`) is found, and `get_functions()` is called a
single time (a second call fails on duplicate names). Each function's `get_function_json()`
is what the host receives; its bindings name the Python parameters that receive values.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

import azure.functions as func
from azure.functions.decorators.function_app import Function

SCRIPT_FILE = "function_app.py"
HTTP_TRIGGER = "httpTrigger"
QUEUE_TRIGGER = "queueTrigger"
TIMER_TRIGGER = "timerTrigger"
SUPPORTED_TRIGGERS = (HTTP_TRIGGER, QUEUE_TRIGGER, TIMER_TRIGGER)
# Output bindings the local host can deliver: the HTTP response and queue messages.
SUPPORTED_OUTPUTS = ("http", "queue")
RETURN_BINDING = "$return"
RETRY_SETTING = "retry_policy"


class IndexingError(Exception):
    """The app cannot be indexed; the worker would fail to load it the same way."""


@dataclass(frozen=True)
class IndexedFunction:
    """One function as the host knows it after indexing.

    The derived views are cached: the HTTP path asks for them on every request.
    """

    name: str
    function_json: dict[str, Any]
    user_function: Callable[..., Any]
    parameters: tuple[str, ...]
    annotations: dict[str, Any]
    retry: dict[str, Any] | None

    @property
    def bindings(self) -> list[dict[str, Any]]:
        return self.function_json["bindings"]

    @cached_property
    def trigger(self) -> dict[str, Any]:
        return next(b for b in self.bindings if str(b.get("type", "")).endswith("Trigger"))

    @cached_property
    def trigger_type(self) -> str:
        return str(self.trigger["type"])

    @cached_property
    def trigger_name(self) -> str:
        return str(self.trigger["name"])

    @cached_property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.user_function)

    @cached_property
    def return_binding(self) -> dict[str, Any] | None:
        return next((b for b in self.bindings if b.get("name") == RETURN_BINDING), None)

    @cached_property
    def output_bindings(self) -> list[dict[str, Any]]:
        """Output bindings passed to the function as `func.Out` parameters."""
        return [b for b in self.bindings if _direction(b) == "out" and b.get("name") != RETURN_BINDING]

    @cached_property
    def takes_context(self) -> bool:
        return "context" in self.parameters and "context" not in {b.get("name") for b in self.bindings}


def _direction(binding: dict[str, Any]) -> str:
    return str(binding.get("direction", "")).lower()


def import_app_module(app_dir: Path) -> ModuleType:
    """Imports `function_app.py` from `app_dir` the way the worker does (by module name)."""
    script = app_dir / SCRIPT_FILE
    if not script.is_file():
        raise IndexingError(f"{script} not found: the v2 programming model needs a {SCRIPT_FILE} at the app root")
    root = str(app_dir.resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
    module_name = script.stem
    existing = sys.modules.get(module_name)
    if existing is not None and Path(getattr(existing, "__file__", "") or "").resolve() != script.resolve():
        # Another app's function_app was imported in this process (tests index more than one).
        del sys.modules[module_name]
    try:
        return importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - whatever the app raises, indexing fails with it
        raise IndexingError(f"importing {script} failed: {type(exc).__name__}: {exc}") from exc


def find_function_app(module: ModuleType) -> func.FunctionRegister:
    """The one top-level FunctionApp instance in the module."""
    apps = [value for value in vars(module).values() if isinstance(value, func.FunctionRegister)]
    unique = list({id(a): a for a in apps}.values())
    if not unique:
        raise IndexingError(f"no FunctionApp instance at the top level of {module.__file__}")
    if len(unique) > 1:
        raise IndexingError(f"more than one FunctionApp instance at the top level of {module.__file__}")
    return unique[0]


def _check_parameters(name: str, bindings: list[dict[str, Any]], parameters: list[str]) -> None:
    # The worker refuses a function whose parameters and bindings disagree.
    bound = {str(b["name"]) for b in bindings if b.get("name") != RETURN_BINDING}
    declared = set(parameters) - ({"context"} - bound)
    if declared - bound:
        raise IndexingError(
            f"function '{name}': parameters declared in Python but not bound: {', '.join(sorted(declared - bound))}"
        )
    if bound - declared:
        raise IndexingError(
            f"function '{name}': bindings with no Python parameter: {', '.join(sorted(bound - declared))}"
        )


def describe_function(function: Function) -> IndexedFunction:
    """Turns one indexed `Function` into what the host needs, checking it like the worker."""
    name = function.get_function_name()
    function_json = json.loads(function.get_function_json())
    bindings = function_json.get("bindings", [])
    triggers = [b for b in bindings if str(b.get("type", "")).endswith("Trigger")]
    if len(triggers) != 1:
        raise IndexingError(f"function '{name}' must have exactly one trigger, has {len(triggers)}")
    trigger_type = triggers[0]["type"]
    if trigger_type not in SUPPORTED_TRIGGERS:
        raise IndexingError(f"function '{name}': trigger type '{trigger_type}' is not run by the local host")
    for binding in bindings:
        if binding is triggers[0]:
            continue
        if _direction(binding) != "out" or binding.get("type") not in SUPPORTED_OUTPUTS:
            raise IndexingError(
                f"function '{name}': binding '{binding.get('name')}' of type '{binding.get('type')}' "
                f"({binding.get('direction')}) is not supported by the local host"
            )
    user_function = function.get_user_function()
    signature = inspect.signature(user_function)
    parameters = [
        p.name
        for p in signature.parameters.values()
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    _check_parameters(name, bindings, parameters)
    try:
        annotations = inspect.get_annotations(user_function, eval_str=True)
    except Exception:  # noqa: BLE001 - unresolvable string annotations only cost type-based conversion
        annotations = {}
    return IndexedFunction(
        name=name,
        function_json=function_json,
        user_function=user_function,
        parameters=tuple(parameters),
        annotations=annotations,
        retry=function.get_settings_dict(RETRY_SETTING),
    )


def index_app(app_dir: Path) -> list[IndexedFunction]:
    """Imports and indexes the app in `app_dir`; call once per process and keep the result."""
    module = import_app_module(app_dir)
    app = find_function_app(module)
    try:
        functions = app.get_functions()
    except ValueError as exc:
        raise IndexingError(f"indexing {module.__file__} failed: {exc}") from exc
    return [describe_function(f) for f in functions]
