"""Notifications: the caller's feed, marking it read, and the timer that reminds students
and tutors of classes about to start."""

from __future__ import annotations

import azure.functions as func

from shared_code import telemetry
from shared_code.bootstrap import get_context
from shared_code.http import Call, endpoint, json_body, query, respond
from shared_code.models.notifications import MarkRead, MarkReadResult, NotificationPage, NotificationQuery
from shared_code.services.notifications import feed, reminders

bp = func.Blueprint()

TAG = "notifications"


@endpoint(
    bp, "me/notifications", ["GET"],
    summary="The caller's notifications, newest first, with the unread count; `?unread=true` for unread only",
    tag=TAG, query=NotificationQuery, response=NotificationPage,
)
async def my_notifications(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    return respond(await feed.list_notifications(call.ctx, call.principal, query(req, NotificationQuery)))


@endpoint(
    bp, "me/notifications/read", ["POST"],
    summary="Mark the caller's notifications read: `{ids: [...]}` or `{all: true}`; other users' ids change nothing",
    tag=TAG, request=MarkRead, response=MarkReadResult,
)
async def mark_notifications_read(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    return respond(await feed.mark_read(call.ctx, call.principal, json_body(req, MarkRead)))


@bp.timer_trigger(schedule="%LECTERN_CLASS_REMINDER_SCHEDULE%", arg_name="timer", run_on_startup=False)
async def remind_upcoming_classes(timer: func.TimerRequest, context: func.Context) -> None:
    """Notifies the enrolled students and the tutor of classes starting within ten minutes,
    once per class and user (a run that finds nothing logs at debug level only)."""
    with telemetry.timer_run("remind_upcoming_classes", context.invocation_id):
        await reminders.remind_upcoming_classes(await get_context())
