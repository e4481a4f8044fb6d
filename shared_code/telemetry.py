"""Traces, metrics and logs through OpenTelemetry, so one request can be followed from the
HTTP call through PostgreSQL, Redis and the Azure SDKs into the queue-triggered work it left.

Two ways to turn it on, both read once at start (`configure_telemetry`, from function_app.py):
- APPLICATIONINSIGHTS_CONNECTION_STRING set (Azure): the Azure Monitor distro exports
  traces, the `lectern` meter's metrics and the `lectern.*` log records. host.json's
  `telemetryMode: OpenTelemetry` and the app setting PYTHON_ENABLE_OPENTELEMETRY=true make
  the host's request span the parent of ours (docs/observability.md).
- LECTERN_TRACE_CONSOLE=1 (local): every span is printed to the host's stdout, one line each.

With neither, nothing is instrumented and every helper here returns at its first line (one
global read); the SDK, the exporters and the instrumentations are imported only when turned
on. The OpenTelemetry API itself is light and always imported. What a request still pays
with telemetry off is the log context (`http/observe.py`): a few microseconds.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from opentelemetry import trace as otel_trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared_code import logs, metrics
from shared_code.settings import Settings, get_settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider

logger = logging.getLogger("lectern.telemetry")
_PROPAGATOR = TraceContextTextMapPropagator()
# The tracer while tracing is on; None is the fast path for everything below.
_tracer: otel_trace.Tracer | None = None


def tracing() -> bool:
    return _tracer is not None


def configure_telemetry(settings: Settings | None = None) -> bool:
    """Turns on what the settings ask for and installs the log filter; True when tracing is on."""
    settings = settings or get_settings()
    connection_string = settings.applicationinsights_connection_string.get_secret_value()
    if _tracer is None and connection_string:
        # Imported only when configured: the distro pulls in all of the SDK and its exporters.
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure_azure_monitor(connection_string=connection_string, logger_name="lectern")
        install_tracing(otel_trace.get_tracer_provider())  # type: ignore[arg-type]
        metrics.enable()
        logger.info("telemetry exported to Application Insights")
    elif _tracer is None and settings.trace_console:
        provider = console_tracer_provider()
        otel_trace.set_tracer_provider(provider)
        install_tracing(provider)
        logger.info("spans printed to stdout (LECTERN_TRACE_CONSOLE=1)")
    if connection_string:
        # The exporter's own HTTP calls would otherwise log each request's headers at INFO.
        logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
    logs.install(settings)
    return tracing()


def console_tracer_provider(out: TextIO | None = None) -> TracerProvider:
    """A provider that prints the app's spans to `out` (stdout), one line each: its own
    spans and their descendants only. The local host runs in the app's process, so its
    queue polling would otherwise print a few Azure SDK spans every couple of seconds
    between the ones that matter. A span's parent starts before it, so a set of recent
    span ids decides at start."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Span, SpanProcessor, TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    printer = SimpleSpanProcessor(ConsoleSpanExporter(out=out or sys.stdout, formatter=span_line))
    ours: dict[int, None] = {}  # insertion-ordered: the oldest ids are forgotten first

    class OursOnly(SpanProcessor):
        def on_start(self, span: Span, parent_context: Any = None) -> None:
            scope, parent = span.instrumentation_scope, span.parent
            if (scope is not None and scope.name == "lectern") or (parent is not None and parent.span_id in ours):
                ours[span.get_span_context().span_id] = None
                if len(ours) > 20_000:
                    del ours[next(iter(ours))]

        def on_end(self, span: ReadableSpan) -> None:
            context = span.get_span_context()
            if context is not None and context.span_id in ours:
                printer.on_end(span)

    provider = TracerProvider(resource=Resource.create({"service.name": "lectern"}))
    provider.add_span_processor(OursOnly())
    return provider


def span_line(span: ReadableSpan) -> str:
    """`[span] <trace> <span> <parent|-> <ms> <KIND> <name> key=value...`, one line a span."""
    context = span.get_span_context()
    if context is None:
        return ""
    parent = f"{span.parent.span_id:016x}" if span.parent is not None else "-"
    duration = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
    shown = " ".join(f"{k}={str(v)[:120]!r}" for k, v in (span.attributes or {}).items() if k in _SHOWN_ATTRIBUTES)
    kind = span.kind.name if span.kind is not None else "INTERNAL"
    return (
        f"[span] trace={context.trace_id:032x} span={context.span_id:016x} parent={parent} "
        f"{duration:.1f}ms {kind} {span.name} {shown}".rstrip() + "\n"
    )


_SHOWN_ATTRIBUTES = frozenset({
    "http.route", "http.request.method", "http.response.status_code", "db.system", "db.statement",
    "db.query.text", "server.address", "az.namespace", "messaging.destination.name", "lectern.effect",
})


def install_tracing(provider: TracerProvider) -> None:
    """Instruments psycopg, redis and the Azure SDKs with `provider` and turns our spans on.
    Tests call it with a provider of their own (and `uninstall_tracing` after)."""
    global _tracer
    from azure.core.settings import settings as azure_settings
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    PsycopgInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)
    RedisInstrumentor().instrument(tracer_provider=provider)
    azure_settings.tracing_implementation = "opentelemetry"
    _tracer = provider.get_tracer("lectern")
    logs.set_trace_source(current_trace_id)


def uninstall_tracing() -> None:
    global _tracer
    from azure.core.settings import settings as azure_settings
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    PsycopgInstrumentor().uninstrument()
    RedisInstrumentor().uninstrument()
    azure_settings.tracing_implementation = None
    _tracer = None
    logs.set_trace_source(None)


def current_trace_id() -> str | None:
    context = otel_trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def traceparent() -> str | None:
    """The W3C traceparent of the current span, to carry in a queued message."""
    if _tracer is None:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def trace_id_of(parent: str | None) -> str | None:
    """The trace id a traceparent names (for log lines when tracing is off)."""
    parts = (parent or "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


@contextmanager
def span(
    name: str, *, kind: SpanKind = SpanKind.INTERNAL, parent: str | None = None, continues: bool = False,
    attributes: Mapping[str, str | int] | None = None,
) -> Iterator[otel_trace.Span | None]:
    """A span around the block (None when tracing is off).

    `parent` is a traceparent to continue when no span is current (the caller's header): in
    Azure the worker has already made the host's span current, and ours is its child. With
    `continues=True` the traceparent wins even then, and the current span is only linked:
    a queued message's work belongs to the trace of the request that queued it, not to the
    host's own trace of the queue poll.
    """
    if _tracer is None:
        yield None
        return
    current = otel_trace.get_current_span().get_span_context()
    context, links = None, None
    if parent and (continues or not current.is_valid):
        context = _PROPAGATOR.extract({"traceparent": parent})
        if current.is_valid:
            links = [otel_trace.Link(current)]
    with _tracer.start_as_current_span(
        name, context=context, kind=kind, attributes=attributes, links=links,
        record_exception=True, set_status_on_exception=True,
    ) as started:
        yield started


@contextmanager
def timer_run(name: str, invocation_id: str | None) -> Iterator[otel_trace.Span | None]:
    """A timer's run: its log context, and with tracing on a span of its own (no request
    started it, so it roots its trace) whose children are the run's PostgreSQL, Redis and
    Azure SDK calls, as a request's are."""
    with logs.bound(invocation_id=invocation_id, operation=name), span(
        f"timer {name}", attributes={"faas.trigger": "timer", "lectern.operation": name}
    ) as started:
        yield started


def finish_http(current: otel_trace.Span | None, status: int) -> None:
    if current is None:
        return
    current.set_attribute("http.response.status_code", status)
    if status >= 500:
        current.set_status(Status(StatusCode.ERROR))
    user = logs.current().user_id
    if user:
        current.set_attribute("enduser.pseudo.id", logs.user_hash(user))
