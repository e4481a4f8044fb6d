"""Queue trigger for the outbox: retries side effects that failed on the request path."""

from __future__ import annotations

import json
import logging

import azure.functions as func

from shared_code import logs, telemetry
from shared_code.bootstrap import get_context
from shared_code.platform import outbox
from shared_code.services.live import attendance

bp = func.Blueprint()
logger = logging.getLogger("lectern.retries")


@bp.queue_trigger(arg_name="msg", queue_name="%LECTERN_OUTBOX_QUEUE%", connection="AzureWebJobsStorage")
async def outbox_retry(msg: func.QueueMessage, context: func.Context) -> None:
    ctx = await get_context()
    try:
        message = json.loads(msg.get_body())
    except ValueError:
        # Not ours to fix: raising lets the host move it to the poison queue.
        raise ValueError("outbox message is not JSON") from None
    parent = message.get("traceparent") if isinstance(message, dict) else None
    with logs.bound(invocation_id=context.invocation_id, trace_id=telemetry.trace_id_of(parent)):
        outcome = await outbox.retry(ctx, message)
        logger.info("outbox message %s (%s): %s", msg.id, message.get("kind"), outcome)


@bp.timer_trigger(schedule="%LECTERN_PARKED_DRAIN_SCHEDULE%", arg_name="timer", run_on_startup=False)
async def drain_parked_effects(timer: func.TimerRequest, context: func.Context) -> None:
    """Retries side effects parked in PostgreSQL while Storage (and so the queue) was down,
    writes the attendance rows a process that died left in Redis, and samples the outbox
    and poison queue lengths for the metrics."""
    ctx = await get_context()
    with telemetry.timer_run("drain_parked_effects", context.invocation_id):
        await outbox.drain_parked(ctx)
        await attendance.recover(ctx)
        await outbox.sample_queues(ctx)
