"""Live classes: lifecycle, joining, state, polls, moderation, attendance, chat history, and
the page that tries it all. Client events arrive through `functions/realtime_events.py`."""

from __future__ import annotations

import azure.functions as func

from shared_code.bootstrap import get_context
from shared_code.http import authenticate, client_ip, endpoint, json_body, limit_rate, query, respond, route_id
from shared_code.models.live import (
    AttendanceReport,
    ChatPage,
    ChatQuery,
    ClassCreate,
    ClassListQuery,
    ClassPage,
    ClassState,
    LiveClass,
    ModerationRequest,
    ModerationResult,
    Negotiated,
    Poll,
    PollCreate,
)
from shared_code.services.live import attendance, chat, class_state, classes, moderation, polls
from shared_code.services.live import page as live_page

bp = func.Blueprint()


@endpoint(bp, "classes", ["POST"], summary="Schedule a live class", tag="live", request=ClassCreate,
          response=LiveClass, status=201, roles=("tutor", "admin"), errors=(400, 403, 404), idempotent_key=True)
async def create_class(req: func.HttpRequest) -> func.HttpResponse:
    principal = await authenticate(req, "tutor", "admin")
    body = json_body(req, ClassCreate)
    return respond(await classes.create_class(await get_context(), principal, body), status=201)


@endpoint(bp, "classes", ["GET"], summary="Classes of a course, latest first", tag="live", query=ClassListQuery,
          response=ClassPage, errors=(400, 403, 404))
async def list_classes(req: func.HttpRequest) -> func.HttpResponse:
    principal = await authenticate(req)
    q = query(req, ClassListQuery)
    return respond(await classes.list_classes(await get_context(), principal, q))


@endpoint(bp, "classes/{classId}", ["GET"], summary="One live class", tag="live", response=LiveClass,
          errors=(403, 404))
async def get_class(req: func.HttpRequest) -> func.HttpResponse:
    principal = await authenticate(req)
    return respond(await classes.get_class(await get_context(), principal, route_id(req, "classId")))


@endpoint(bp, "classes/{classId}/start", ["POST"], summary="Start the class (pushes class.started)", tag="live",
          response=LiveClass, roles=("tutor",), errors=(403, 404, 422))
async def start_class(req: func.HttpRequest) -> func.HttpResponse:
    principal = await authenticate(req)
    return respond(await classes.start_class(await get_context(), principal, route_id(req, "classId")))


@endpoint(bp, "classes/{classId}/end", ["POST"], summary="End the class (pushes class.ended)", tag="live",
          response=LiveClass, roles=("tutor",), errors=(403, 404))
async def end_class(req: func.HttpRequest) -> func.HttpResponse:
    principal = await authenticate(req)
    return respond(await classes.end_class(await get_context(), principal, route_id(req, "classId")))


@endpoint(bp, "classes/{classId}/negotiate", ["POST"], summary="Web PubSub client URL for this class", tag="live",
          response=Negotiated, roles=("student", "tutor", "admin"), errors=(403, 404, 422, 429, 503))
async def negotiate(req: func.HttpRequest) -> func.HttpResponse:
    principal = await authenticate(req)
    ctx = await get_context()
    await _limit_joins_per_address(ctx, req)
    return respond(await classes.negotiate(ctx, principal, route_id(req, "classId")))


@endpoint(bp, "me/negotiate", ["POST"], summary="Web PubSub client URL for the caller's own pushes",
          tag="live", response=Negotiated, errors=(429, 503))
async def negotiate_personal(req: func.HttpRequest) -> func.HttpResponse:
    principal = await authenticate(req)
    ctx = await get_context()
    await _limit_joins_per_address(ctx, req)
    return respond(await classes.negotiate_personal(ctx, principal))


async def _limit_joins_per_address(ctx, req: func.HttpRequest) -> None:  # noqa: ANN001 - AppContext
    # Joining hands out connection tokens, so it is abuse-prone: limited per address as
    # well as per user, and refused (503) rather than unmetered while Redis is down.
    await limit_rate(ctx, "negotiate-ip", client_ip(req), ctx.settings.rate_limit_negotiate_per_ip_per_minute,
                     fail_open=False)


@endpoint(bp, "classes/{classId}/state", ["GET"], summary="Snapshot of the class at a seq", tag="live",
          response=ClassState, errors=(403, 404, 503))
async def class_state_snapshot(req: func.HttpRequest) -> func.HttpResponse:
    principal = await authenticate(req)
    return respond(await class_state.state(await get_context(), principal, route_id(req, "classId")))


@endpoint(bp, "classes/{classId}/polls", ["POST"], summary="Open a poll (pushes poll.opened)", tag="live",
          request=PollCreate, response=Poll, status=201, roles=("tutor",), errors=(400, 403, 404, 409, 422),
          idempotent_key=True)
async def open_poll(req: func.HttpRequest) -> func.HttpResponse:
    principal = await authenticate(req)
    class_id = route_id(req, "classId")
    body = json_body(req, PollCreate)
    return respond(await polls.open_poll(await get_context(), principal, class_id, body), status=201)


@endpoint(bp, "classes/{classId}/polls/{pollId}/close", ["POST"], summary="Close a poll with exact final counts",
          tag="live", response=Poll, roles=("tutor",), errors=(403, 404))
async def close_poll(req: func.HttpRequest) -> func.HttpResponse:
    principal = await authenticate(req)
    class_id, poll_id = route_id(req, "classId"), route_id(req, "pollId")
    return respond(await polls.close_poll(await get_context(), principal, class_id, poll_id))


@endpoint(bp, "classes/{classId}/polls/{pollId}", ["GET"], summary="A poll with its current counts", tag="live",
          response=Poll, errors=(403, 404))
async def get_poll(req: func.HttpRequest) -> func.HttpResponse:
    principal = await authenticate(req)
    class_id, poll_id = route_id(req, "classId"), route_id(req, "pollId")
    return respond(await polls.get_poll(await get_context(), principal, class_id, poll_id))


@endpoint(bp, "classes/{classId}/moderation", ["POST"], summary="Mute, unmute, remove, delete a message, lower a hand",
          tag="live", request=ModerationRequest, response=ModerationResult, roles=("tutor", "admin"),
          errors=(400, 403, 404))
async def moderate(req: func.HttpRequest) -> func.HttpResponse:
    principal = await authenticate(req)
    class_id = route_id(req, "classId")
    body = json_body(req, ModerationRequest)
    return respond(await moderation.moderate(await get_context(), principal, class_id, body))


@endpoint(bp, "classes/{classId}/attendance", ["GET"], summary="Join/leave rows and minutes present per student",
          tag="live", response=AttendanceReport, roles=("tutor", "admin"), errors=(403, 404))
async def class_attendance(req: func.HttpRequest) -> func.HttpResponse:
    principal = await authenticate(req)
    return respond(await attendance.report(await get_context(), principal, route_id(req, "classId")))


@endpoint(bp, "classes/{classId}/chat", ["GET"], summary="Chat history, newest first", tag="live", query=ChatQuery,
          response=ChatPage, errors=(400, 403, 404))
async def chat_history(req: func.HttpRequest) -> func.HttpResponse:
    principal = await authenticate(req)
    class_id = route_id(req, "classId")
    q = query(req, ChatQuery)
    return respond(await chat.history(await get_context(), principal, class_id, q))


@endpoint(bp, "live/app", ["GET"], summary="A page to try a live class (development tokens)", tag="live", auth=False,
          development_only=True)
async def live_app(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        live_page.page_html(), mimetype="text/html", charset="utf-8",
        headers={"Content-Security-Policy": live_page.CONTENT_SECURITY_POLICY},
    )
