"""One trace per request, into the queue: the app's own HTTP functions (as the host binds
them) run in-process against the real PostgreSQL, Redis and Azurite with spans going to an
in-memory exporter. A request's server span has PostgreSQL and Redis calls as children; an
effect it could not run travels on the outbox queue with the request's traceparent, and the
retry the queue trigger runs belongs to the same trace. Each timer run is a trace of its
own, and the timers that find nothing to do say so at debug level only."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest
from azure.storage.queue import BinaryBase64DecodePolicy
from azure.storage.queue.aio import QueueClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from devhost.indexing import IndexedFunction
from devhost.invocation import InvocationContext
from shared_code import bootstrap, logs, telemetry
from shared_code.context import AppContext
from shared_code.platform import outbox
from shared_code.services.progress import flush
from shared_code.settings import Settings
from tests.support.app_index import lectern_functions

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.install_tracing(provider)
    yield exporter
    telemetry.uninstall_tracing()


@pytest.fixture
async def app(stack, migrated, redis_server, spans, monkeypatch) -> AsyncIterator[AppContext]:
    """The process context the endpoints reach through `get_context`, built after tracing is
    installed (as function_app does), with an outbox queue of its own and an audit table
    name Table storage refuses, so every audit row of a request becomes a queued effect."""
    settings = Settings(
        environment="test",
        postgres_url=migrated,
        postgres_pool_max=4,
        redis_url=redis_server.url,
        storage_connection_string=stack.storage_connection_string,
        webpubsub_connection_string=stack.pubsub_connection_string,
        outbox_queue=f"outbox-trace-{uuid.uuid4().hex[:10]}",
        audit_table="no-such-table!",
    )
    ctx = await bootstrap.build_context(settings)
    monkeypatch.setattr(bootstrap, "_context", ctx)
    monkeypatch.setattr(outbox, "BASE_DELAY_SECONDS", 0)
    yield ctx
    await ctx.background.drain()
    await ctx.close()


def _function(name: str) -> IndexedFunction:
    return next(f for f in lectern_functions() if f.name == name)


async def _call(
    name: str, method: str, path: str, body: dict, headers: dict[str, str] | None = None, **route: str
) -> func.HttpResponse:
    req = func.HttpRequest(
        method, f"http://127.0.0.1/api/{path}", headers={"content-type": "application/json", **(headers or {})},
        params={}, route_params=route, body=json.dumps(body).encode(),
    )
    return await _function(name).user_function(req)


async def _receive(ctx: AppContext, wait: float = 15) -> dict | None:
    started = time.monotonic()
    async with QueueClient.from_connection_string(
        ctx.settings.storage_connection_string.get_secret_value(), ctx.settings.outbox_queue,
        message_decode_policy=BinaryBase64DecodePolicy(),
    ) as client:
        while time.monotonic() - started < wait:
            async for msg in client.receive_messages(max_messages=1, visibility_timeout=30):
                await client.delete_message(msg)
                return json.loads(msg.content)
            await asyncio.sleep(0.2)
    return None


async def _clear(ctx: AppContext) -> None:
    """Empties the outbox queue: what earlier requests queued (a course's creation is audited too)."""
    async with QueueClient.from_connection_string(
        ctx.settings.storage_connection_string.get_secret_value(), ctx.settings.outbox_queue
    ) as client:
        await client.clear_messages()


def _trace(span: ReadableSpan) -> str:
    return f"{span.context.trace_id:032x}"


def _descends(span: ReadableSpan, root: ReadableSpan, by_id: dict[int, ReadableSpan]) -> bool:
    while span.parent is not None:
        if span.parent.span_id == root.context.span_id:
            return True
        parent = by_id.get(span.parent.span_id)
        if parent is None:
            return False
        span = parent
    return False


async def test_a_request_is_one_trace_from_http_through_postgres_and_redis_into_its_queued_retry(app, spans):
    minted = await _call("dev_token", "POST", "dev/token", {"name": "traced tutor", "roles": ["tutor"]})
    assert minted.status_code == 200, minted.get_body()
    auth = {"authorization": f"Bearer {json.loads(minted.get_body())['token']}"}
    created = await _call("create_course", "POST", "courses", {"title": "Traced algebra"}, auth)
    assert created.status_code == 201, created.get_body()
    course_id = json.loads(created.get_body())["id"]
    await app.background.drain()
    await _clear(app)
    spans.clear()

    # An edit is audited: the audit row's insert fails (the table name) and is queued.
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    edited = await _call("update_course", "PATCH", f"courses/{course_id}", {"title": "Traced algebra II"},
                         {**auth, "traceparent": caller}, courseId=course_id)
    assert edited.status_code == 200, edited.get_body()
    await app.background.drain()

    finished = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished}
    (server,) = [s for s in finished if s.kind == SpanKind.SERVER]
    assert server.name == "PATCH /api/courses/{courseId}" and server.attributes["http.response.status_code"] == 200
    assert _trace(server) == "4bf92f3577b34da6a3ce929d0e0e4736", "the caller's traceparent is continued"
    systems = {s.attributes.get("db.system") for s in finished if _descends(s, server, by_id)}
    assert {"postgresql", "redis"} <= systems, [(s.name, dict(s.attributes or {})) for s in finished]

    queued = await _receive(app)
    assert queued is not None and queued["kind"] == "audit.insert"
    assert queued["traceparent"].split("-")[1] == _trace(server), "the queued effect carries the request's trace"
    spans.clear()

    assert await outbox.retry(app, queued) == "requeued"  # the table name is still refused
    (retry,) = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CONSUMER]
    assert retry.name == "outbox audit.insert" and _trace(retry) == _trace(server)
    again = await _receive(app)
    assert again is not None and again["attempt"] == 2 and again["traceparent"].split("-")[1] == _trace(server)


async def test_log_lines_of_a_traced_request_carry_its_trace_and_a_hashed_user(app, spans, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.handler.addFilter(logs.LogContextFilter())
    with telemetry.span("GET /api/x", parent="00-11111111111111111111111111111111-2222222222222222-01"):
        with logs.bound(user_id="user-123", class_id="class-1"):
            logging.getLogger("lectern.test").warning("something worth a line")
    (record,) = [r for r in caplog.records if r.name == "lectern.test"]
    assert record.traceId == "11111111111111111111111111111111" and record.classId == "class-1"
    assert record.userHash == logs.user_hash("user-123") != "user-123"


async def test_timers_that_find_nothing_to_do_log_at_debug_only(app, caplog):
    caplog.set_level(logging.DEBUG)
    assert await outbox.drain_parked(app) == (0, 0)
    report = await flush.flush_dirty(app)
    assert report.snapshots == 0
    lectern = [r for r in caplog.records if r.name.startswith("lectern")]
    assert lectern, "the idle runs say so at debug level"
    assert all(r.levelno == logging.DEBUG for r in lectern), [(r.name, r.levelname, r.getMessage()) for r in lectern]


TIMERS = ("flush_progress", "drain_parked_effects", "discard_stale_uploads", "remind_upcoming_classes", "sweep_live_presence")


async def test_each_timer_run_is_a_trace_of_its_own_with_its_store_calls_as_children(app, spans):
    for name in TIMERS:
        await _function(name).user_function(TimerRequest(past_due=False), InvocationContext(str(uuid.uuid4()), name, ".", None))
    finished = spans.get_finished_spans()
    by_id = {span.context.span_id: span for span in finished}
    for name in TIMERS:
        (run,) = [span for span in finished if span.name == f"timer {name}"]
        assert run.parent is None, "no request started it: it roots its own trace"
        assert run.attributes is not None and run.attributes["faas.trigger"] == "timer"
        assert run.attributes["lectern.operation"] == name
        calls = [span for span in finished if _descends(span, run, by_id)]
        assert calls and all(_trace(call) == _trace(run) for call in calls), name
