"""Tracing and metrics helpers without services: off, they do nothing (and cost a global
read); on, a queued message's traceparent carries the trace into the work that takes it,
and every metric the workbook charts is recorded under its name."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared_code import metrics, telemetry

pytestmark = pytest.mark.unit

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.install_tracing(provider)
    yield exporter
    telemetry.uninstall_tracing()


def test_with_tracing_off_spans_and_traceparents_are_nothing():
    assert not telemetry.tracing()
    with telemetry.span("anything", parent=PARENT) as span:
        assert span is None
    assert telemetry.traceparent() is None
    assert telemetry.trace_id_of(PARENT) == "0af7651916cd43dd8448eb211c80319c"
    assert telemetry.trace_id_of("garbage") is None


def test_a_span_continues_the_callers_traceparent(spans):
    with telemetry.span("GET /api/x", kind=otel_trace.SpanKind.SERVER, parent=PARENT):
        carried = telemetry.traceparent()
    (span,) = spans.get_finished_spans()
    assert f"{span.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert span.parent is not None and f"{span.parent.span_id:016x}" == "b7ad6b7169203331"
    assert carried is not None and carried.split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    assert carried.split("-")[2] == f"{span.context.span_id:016x}"


def test_queued_work_joins_the_trace_that_queued_it_even_under_the_hosts_own_span(spans):
    with telemetry.span("host queue poll"):  # what the worker makes current in Azure
        with telemetry.span("outbox table.upsert", parent=PARENT, continues=True):
            pass
        with telemetry.span("child of the host", parent=PARENT):
            pass
    effect, child, host = spans.get_finished_spans()
    assert f"{effect.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert [link.context.span_id for link in effect.links] == [host.context.span_id]
    assert child.context.trace_id == host.context.trace_id != effect.context.trace_id


def test_the_console_line_names_trace_parent_duration_and_route(spans):
    with telemetry.span("GET /api/courses/{courseId}", kind=otel_trace.SpanKind.SERVER, parent=PARENT,
                        attributes={"http.route": "/api/courses/{courseId}", "secret.thing": "x"}):
        pass
    (span,) = spans.get_finished_spans()
    line = telemetry.span_line(span)
    assert line.startswith("[span] trace=0af7651916cd43dd8448eb211c80319c ") and line.endswith("\n")
    assert "parent=b7ad6b7169203331" in line and "SERVER GET /api/courses/{courseId}" in line
    assert "http.route=" in line and "secret.thing" not in line


def _points(reader: InMemoryMetricReader) -> dict[str, list]:
    data = reader.get_metrics_data()
    found: dict[str, list] = {}
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def test_every_metric_is_recorded_under_its_name_once_enabled():
    reader = InMemoryMetricReader()
    metrics.enable(MeterProvider(metric_readers=[reader]))
    try:
        metrics.connection_changed("class-1", 1)
        metrics.connection_changed("class-1", 1)
        metrics.connection_changed("class-1", -1)
        metrics.client_event("vote", 3.5)
        metrics.http_request("record_progress", 202)
        metrics.outbox_queues("outbox", 4, "outbox-poison", 1)
        metrics.payment_mismatch("not paid (requires_payment_method)")
        metrics.cache_reads(3, 1)
        metrics.breaker("postgresql", "open")
        found = _points(reader)
    finally:
        metrics.disable()
    assert set(found) == metrics.NAMES
    (connections,) = found[metrics.LIVE_CONNECTIONS]
    assert connections.value == 1 and connections.attributes == {"class_id": "class-1"}
    assert {p.attributes["result"]: p.value for p in found[metrics.CACHE_READS]} == {"hit": 3, "miss": 1}
    assert found[metrics.PAYMENT_MISMATCHES][0].attributes == {"reason": "not paid"}
    assert found[metrics.BREAKER_STATE][0].value == 1


def test_with_metrics_off_the_helpers_cost_next_to_nothing():
    assert not metrics.enabled()
    started = time.perf_counter()
    for _ in range(100_000):
        metrics.http_request("record_progress", 200)
        metrics.cache_reads(3, 1)
    per_call_ns = (time.perf_counter() - started) / 200_000 * 1e9
    assert per_call_ns < 2_000, per_call_ns  # a global read and a return; generous for a busy machine


def test_a_circuit_breaker_reports_open_probing_and_closed():
    from shared_code.circuit import CircuitBreaker

    reader = InMemoryMetricReader()
    metrics.enable(MeterProvider(metric_readers=[reader]))
    now = [0.0]
    breaker = CircuitBreaker("postgresql", threshold=2, cooldown=5.0, clock=lambda: now[0])
    seen = []

    def state() -> int:
        (point,) = _points(reader)[metrics.BREAKER_STATE]
        assert point.attributes == {"dependency": "postgresql"}
        return point.value

    try:
        breaker.record_failure()
        breaker.record_failure()
        seen.append(state())
        now[0] = 6.0
        assert breaker.admit()
        seen.append(state())
        breaker.record_success()
        seen.append(state())
    finally:
        metrics.disable()
    assert seen == [1, 2, 0]


def test_the_console_prints_the_apps_work_and_not_the_local_hosts_own_sdk_calls():
    out = io.StringIO()
    provider = telemetry.console_tracer_provider(out)
    ours, sdk = provider.get_tracer("lectern"), provider.get_tracer("azure.storage.queue")
    with sdk.start_as_current_span("QueueOperations.receive_messages"):  # the host polling
        with sdk.start_as_current_span("GET"):
            pass
    with ours.start_as_current_span("PATCH /api/courses/{courseId}"):
        with sdk.start_as_current_span("QueueClient.send_message"):
            with sdk.start_as_current_span("POST"):
                pass
    printed = [line.split("ms ", 1)[1] for line in out.getvalue().splitlines()]
    assert printed == ["INTERNAL POST", "INTERNAL QueueClient.send_message", "INTERNAL PATCH /api/courses/{courseId}"]
