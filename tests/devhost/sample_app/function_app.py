"""A small app for the local host's own tests: each function shows one behaviour of the host.

Functions record what they saw in `RECORDS`, which `GET /api/records` returns, so a test
can check what a queue message or a timer delivered without reaching into the process.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
import time
from typing import Any

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

RECORDS: dict[str, list[dict[str, Any]]] = {}
_queue_in_flight = {"now": 0, "max": 0}


def record(kind: str, **fields: Any) -> None:
    RECORDS.setdefault(kind, []).append({"at": time.time(), **fields})


def as_json(value: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(value), status_code=status, mimetype="application/json")


@app.route(route="records", methods=["GET"])
async def records(req: func.HttpRequest) -> func.HttpResponse:
    return as_json({**RECORDS, "queue_max_in_flight": _queue_in_flight["max"]})


# --- HTTP -----------------------------------------------------------------------------


@app.route(route="echo/{*rest}")
async def echo(req: func.HttpRequest) -> func.HttpResponse:
    try:
        parsed: Any = req.get_json()
    except ValueError as exc:
        parsed = f"ValueError: {exc}"
    return as_json(
        {
            "type": type(req).__name__,
            "method": req.method,
            "url": req.url,
            "headers": dict(req.headers),
            "params": dict(req.params),
            "route_params": dict(req.route_params),
            "body_b64": base64.b64encode(req.get_body()).decode(),
            "json": parsed,
        }
    )


@app.route(route="items/{id:int}", methods=["GET"])
async def item_by_id(req: func.HttpRequest) -> func.HttpResponse:
    return as_json({"handler": "item_by_id", "route_params": dict(req.route_params)})


@app.route(route="items/special", methods=["GET"])
async def item_special(req: func.HttpRequest) -> func.HttpResponse:
    return as_json({"handler": "item_special", "route_params": dict(req.route_params)})


@app.route(route="items/{name}", methods=["GET"])
async def item_by_name(req: func.HttpRequest) -> func.HttpResponse:
    return as_json({"handler": "item_by_name", "route_params": dict(req.route_params)})


@app.route(route="submit", methods=["POST"])
async def submit(req: func.HttpRequest) -> func.HttpResponse:
    return as_json({"handler": "submit"}, status=201)


@app.route(route="greet/{name?}", methods=["GET"])
async def greet(req: func.HttpRequest) -> str:
    # A plain str return value; the greeting comes from an app setting in local settings.
    return f"{os.environ.get('SAMPLE_GREETING', '?')}, {req.route_params.get('name', 'world')}"


@app.route(route="pages/{page=1}", methods=["GET"])
async def pages(req: func.HttpRequest) -> func.HttpResponse:
    return as_json({"route_params": dict(req.route_params)})


@app.route(route="things/{id:guid}", methods=["GET"])
async def thing(req: func.HttpRequest) -> func.HttpResponse:
    return as_json({"route_params": dict(req.route_params)})


@app.route(route="letters/{word:alpha}", methods=["GET"])
async def letters(req: func.HttpRequest) -> func.HttpResponse:
    return as_json({"route_params": dict(req.route_params)})


@app.route(route="codes/{code:regex(^\\d{{3}}$)}", methods=["GET"])
async def codes(req: func.HttpRequest) -> func.HttpResponse:
    return as_json({"route_params": dict(req.route_params)})


@app.route(route="files/{*path}", methods=["GET"])
async def files(req: func.HttpRequest) -> func.HttpResponse:
    return as_json({"route_params": dict(req.route_params)})


@app.route(route="respond", methods=["POST"])
async def respond(req: func.HttpRequest) -> func.HttpResponse:
    spec = req.get_json()
    response = func.HttpResponse(
        spec.get("body"),
        status_code=spec.get("status", 200),
        headers=spec.get("headers"),
        mimetype=spec.get("mimetype"),
        charset=spec.get("charset"),
    )
    for cookie in spec.get("cookies", []):
        response.headers.add("Set-Cookie", cookie)
    return response


@app.route(route="boom", methods=["GET"])
async def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("this function always fails")


@app.route(route="slow", methods=["GET"])
async def slow(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(30)
    return as_json({"finished": True})


@app.route(route="wrong-type", methods=["GET"])
async def wrong_type(req: func.HttpRequest) -> func.HttpResponse:
    return {"not": "a response"}  # type: ignore[return-value]


@app.route(route="sync", methods=["GET"])
def sync_handler(req: func.HttpRequest) -> func.HttpResponse:
    try:
        asyncio.get_running_loop()
        on_loop = True
    except RuntimeError:
        on_loop = False
    return as_json({"main_thread": threading.current_thread() is threading.main_thread(), "on_event_loop": on_loop})


@app.route(route="context", methods=["GET"])
async def with_context(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return as_json({"invocation_id": context.invocation_id, "function_name": context.function_name})


@app.route(route="enqueue", methods=["POST"])
@app.queue_output(arg_name="out", queue_name="%SAMPLE_QUEUE%", connection="AzureWebJobsStorage")
async def enqueue(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
    out.set(req.get_body().decode())
    return func.HttpResponse(status_code=202)


# --- queues ---------------------------------------------------------------------------


@app.queue_trigger(arg_name="msg", queue_name="%SAMPLE_QUEUE%", connection="AzureWebJobsStorage")
async def work(msg: func.QueueMessage) -> None:
    body = msg.get_body()
    try:
        spec = json.loads(body)
    except ValueError:
        spec = {}
    _queue_in_flight["now"] += 1
    _queue_in_flight["max"] = max(_queue_in_flight["max"], _queue_in_flight["now"])
    try:
        record(
            "queue",
            key=spec.get("key"),
            id=msg.id,
            dequeue_count=msg.dequeue_count,
            body_b64=base64.b64encode(body).decode(),
            has_pop_receipt=bool(msg.pop_receipt),
            has_insertion_time=msg.insertion_time is not None,
        )
        await asyncio.sleep(spec.get("sleep", 0))
        if spec.get("fail_always") or (msg.dequeue_count or 0) <= spec.get("fail_times", 0):
            raise RuntimeError("the message asked to fail")
    finally:
        _queue_in_flight["now"] -= 1


# --- timers ---------------------------------------------------------------------------

NEVER = "0 0 0 1 1 *"  # once a year: these timers run through runOnStartup only


@app.timer_trigger(arg_name="timer", schedule="* * * * * *")
async def every_second(timer: func.TimerRequest) -> None:
    record("every_second", past_due=timer.past_due)


@app.timer_trigger(arg_name="timer", schedule="*/2 * * * * *")
async def slow_timer(timer: func.TimerRequest) -> None:
    started = time.time()
    await asyncio.sleep(3.5)
    record("slow_timer", started=started, ended=time.time(), past_due=timer.past_due)


@app.timer_trigger(arg_name="timer", schedule=NEVER, run_on_startup=True)
async def on_startup(timer: func.TimerRequest) -> None:
    record("on_startup", past_due=timer.past_due)


@app.retry(strategy="fixed_delay", max_retry_count="2", delay_interval="00:00:01")
@app.timer_trigger(arg_name="timer", schedule=NEVER, run_on_startup=True)
async def flaky_timer(timer: func.TimerRequest, context: func.Context) -> None:
    retry = context.retry_context
    record("flaky_timer", retry_count=retry.retry_count, max_retry_count=retry.max_retry_count)
    if retry.retry_count < 2:
        raise RuntimeError("fails on the first two attempts")


@app.retry(strategy="exponential_backoff", max_retry_count="2", minimum_interval="00:00:01", maximum_interval="00:00:01.500")
@app.timer_trigger(arg_name="timer", schedule=NEVER, run_on_startup=True)
def failing_timer(timer: func.TimerRequest) -> None:
    record("failing_timer")
    raise RuntimeError("always fails")
