"""Timer triggers: work that runs on a clock rather than on a request."""

from __future__ import annotations

import logging

import azure.functions as func

from shared_code import telemetry
from shared_code.bootstrap import get_context
from shared_code.services.content import materials
from shared_code.services.privacy import export_job as privacy_exports
from shared_code.services.progress import watch as progress

bp = func.Blueprint()
logger = logging.getLogger("lectern.schedules")


@bp.timer_trigger(schedule="%LECTERN_FLUSH_SCHEDULE%", arg_name="timer", run_on_startup=False)
async def flush_progress(timer: func.TimerRequest, context: func.Context) -> None:
    """Writes dirty heartbeat snapshots from Redis to PostgreSQL (write-behind).

    A failed batch is back in the dirty set before this raises, so the next run retries it.
    """
    with telemetry.timer_run("flush_progress", context.invocation_id):
        report = await progress.flush_dirty(await get_context())
        if timer.past_due:
            # Late and idle is routine on a busy machine; late with work to do is worth a line.
            logger.log(logging.INFO if report.snapshots else logging.DEBUG, "progress flush ran late")


@bp.timer_trigger(schedule="%LECTERN_UPLOAD_CLEANUP_SCHEDULE%", arg_name="timer", run_on_startup=False)
async def discard_stale_uploads(timer: func.TimerRequest, context: func.Context) -> None:
    """Deletes material uploads started more than a day ago and never published, and the
    files of privacy exports past their time.

    A tutor who asks for an upload SAS and walks away would otherwise leave a row and a
    blob forever; the storage lifecycle rule on the upload prefix is the backstop. An
    export's file holds everything about a person: it is kept only the days it may be
    downloaded.
    """
    with telemetry.timer_run("discard_stale_uploads", context.invocation_id):
        ctx = await get_context()
        await materials.discard_stale_uploads(ctx)
        await privacy_exports.expire_exports(ctx)
