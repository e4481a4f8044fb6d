"""Lectern's own function_app.py indexes cleanly and every binding is one the host can run.

This imports the real app the way the worker does and checks what the host would check at
start-up: HTTP routes parse and never shadow each other, queue names resolve from the app
settings to valid queue names, timer schedules parse, retry settings are valid.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from devhost.connections import resolve_app_settings
from devhost.indexing import HTTP_TRIGGER, QUEUE_TRIGGER, TIMER_TRIGGER, IndexedFunction
from devhost.ncrontab import parse_schedule
from devhost.retry_policy import RetryPolicy
from devhost.route_table import RouteTable, find_conflicts
from devhost.settings_file import load_settings
from tests.support.app_index import lectern_functions

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
QUEUE_NAME = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")
SAMPLE_VALUES = ("6f1c2b1e-6c1f-4f8e-9a44-0a0000000001", "12", "abc", "2026-01-01")
HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


@pytest.fixture(scope="module")
def app_settings() -> dict[str, str]:
    return load_settings(REPO).values


@pytest.fixture(scope="module")
def functions() -> list[IndexedFunction]:
    return list(lectern_functions())


def of_type(functions: list[IndexedFunction], trigger: str) -> list[IndexedFunction]:
    return [f for f in functions if f.trigger_type == trigger]


def test_the_app_has_http_functions_with_unique_names(functions):
    names = [f.name for f in functions]
    assert len(names) == len(set(names))
    assert {"health", "openapi_document", "dev_token"} <= set(names)


def test_http_routes_parse_use_real_methods_and_never_shadow_each_other(functions):
    http = of_type(functions, HTTP_TRIGGER)
    for function in http:
        methods = function.trigger.get("methods") or []
        assert set(methods) <= HTTP_METHODS, function.name
    table = RouteTable((str(f.trigger.get("route") or f.name), f.trigger.get("methods"), f.name) for f in http)
    shadowed = [(a.target, b.target, a.template.text) for a, b in find_conflicts(table)]
    assert shadowed == []


def test_every_http_route_is_reachable_at_its_own_path(functions):
    # A path made from each template (parameters filled with plausible values) resolves to it.
    http = of_type(functions, HTTP_TRIGGER)
    table = RouteTable((str(f.trigger.get("route") or f.name), f.trigger.get("methods"), f.name) for f in http)
    for route in table.routes:
        segments = []
        for segment in route.template.segments:
            if segment.literal is not None:
                segments.append(segment.literal)
            elif segment.parameter is not None:
                accepted = [v for v in SAMPLE_VALUES if segment.parameter.accepts(v)]
                assert accepted, f"no sample value fits {route.template.text}"
                segments.append(accepted[0])
            else:
                pytest.fail(f"mixed segment in {route.template.text}: extend this test to fill it")
        method = sorted(route.methods or {"GET"})[0]
        found = table.resolve(method, segments)
        assert found is not None and found.route.target == route.target, route.template.text


def test_queue_triggers_name_queues_the_settings_resolve(functions, app_settings):
    queues = of_type(functions, QUEUE_TRIGGER)
    assert {"outbox_retry"} <= {f.name for f in queues}, "the outbox's retry trigger must be indexed"
    for function in queues:
        name = resolve_app_settings(str(function.trigger["queueName"]), app_settings)
        assert QUEUE_NAME.match(name), (function.name, name)
        assert QUEUE_NAME.match(f"{name}-poison"), (function.name, name)
        connection = function.trigger.get("connection") or "AzureWebJobsStorage"
        assert connection in app_settings, (function.name, connection)


def test_timer_schedules_parse(functions, app_settings):
    timers = of_type(functions, TIMER_TRIGGER)
    expected = {"flush_progress", "drain_parked_effects", "remind_upcoming_classes", "sweep_live_presence"}
    assert expected <= {f.name for f in timers}, "the app's timers must be indexed"
    for function in timers:
        parse_schedule(resolve_app_settings(str(function.trigger["schedule"]), app_settings))


def test_retry_settings_are_valid(functions):
    assert functions, "the app must index"
    for function in functions:
        RetryPolicy.from_settings(function.retry)
