"""Live classes: lifecycle, joining, state, polls, moderation, attendance, chat history, and
the page that tries it all. Client events arrive through `functions/realtime_events.py`."""

from __future__ import annotations

from dataclasses import replace

import azure.functions as func

from shared_code.http import (
    CLASS_MANAGER,
    CLASS_MEMBER,
    CLASS_OWNER,
    COURSE_MANAGER,
    COURSE_MEMBER,
    JOINS_PER_ADDRESS,
    JOINS_PER_USER,
    Call,
    endpoint,
    header,
    in_body,
    in_query,
    json_body,
    query,
    respond,
    route_id,
)
from shared_code.models.content import Playback
from shared_code.models.live import (
    AttendanceReport,
    ChatPage,
    ChatQuery,
    ClassCreate,
    ClassListQuery,
    ClassPage,
    ClassState,
    ClassUpdate,
    LiveClass,
    ModerationRequest,
    ModerationResult,
    Negotiated,
    Poll,
    PollCreate,
    RecordingAttach,
)
from shared_code.services.live import attendance, chat, class_state, classes, moderation, polls, recordings
from shared_code.services.live import page as live_page

bp = func.Blueprint()


# The course a class belongs to is named in the body (scheduling) or the query (listing).
@endpoint(bp, "classes", ["POST"], summary="Schedule a live class", tag="live", request=ClassCreate,
          response=LiveClass, status=201, roles=("tutor", "admin"), relation=in_body(COURSE_MANAGER),
          errors=(400, 403, 404), idempotent_key=True)
async def create_class(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    body: ClassCreate = call.body
    return respond(await classes.create_class(call.ctx, call.principal, body, course=call.access), status=201)


@endpoint(bp, "classes", ["GET"], summary="Classes of a course, latest first", tag="live", query=ClassListQuery,
          response=ClassPage, relation=in_query(COURSE_MEMBER), errors=(400, 403, 404))
async def list_classes(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    q: ClassListQuery = call.query
    return respond(await classes.list_classes(call.ctx, call.principal, q, course=call.access))


@endpoint(bp, "classes/{classId}", ["GET"], summary="One live class", tag="live", response=LiveClass,
          relation=CLASS_MEMBER, errors=(403, 404))
async def get_class(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    found = call.access
    return respond(await classes.get_class(call.ctx, call.principal, found.class_id, found=found))


@endpoint(bp, "classes/{classId}", ["PATCH"], summary="Rename or reschedule a class that has not started (audited)",
          tag="live", request=ClassUpdate, response=LiveClass, relation=CLASS_MANAGER, errors=(400, 403, 404, 409, 422))
async def update_class(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    found = call.access
    body = json_body(req, ClassUpdate)
    return respond(await classes.update_class(call.ctx, call.principal, found.class_id, body, found=found))


@endpoint(bp, "classes/{classId}/start", ["POST"], summary="Start the class (pushes class.started)", tag="live",
          response=LiveClass, relation=CLASS_OWNER, errors=(403, 404, 422))
async def start_class(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    found = call.access
    return respond(await classes.start_class(call.ctx, call.principal, found.class_id, found=found))


@endpoint(bp, "classes/{classId}/end", ["POST"], summary="End the class (pushes class.ended)", tag="live",
          response=LiveClass, relation=CLASS_OWNER, errors=(403, 404))
async def end_class(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    found = call.access
    return respond(await classes.end_class(call.ctx, call.principal, found.class_id, found=found))


# Class members, as CLASS_MEMBER, judged from the class's Redis meta instead of its row (read
# beside the caller's own checks, in their round trip).
CLASS_JOINER = replace(CLASS_MEMBER, check=classes.require_joinable, prefetch=classes.prefetch_joinable)


@endpoint(bp, "classes/{classId}/negotiate", ["POST"], summary="Web PubSub client URL for this class", tag="live",
          response=Negotiated, relation=CLASS_JOINER, limits=(JOINS_PER_ADDRESS, JOINS_PER_USER),
          errors=(403, 404, 422, 429, 503))
async def negotiate(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    found = call.access
    return respond(await classes.negotiate(call.ctx, call.principal, found.class_id, found=found))


@endpoint(bp, "me/negotiate", ["POST"], summary="Web PubSub client URL for the caller's own pushes",
          tag="live", response=Negotiated, limits=(JOINS_PER_ADDRESS, JOINS_PER_USER), errors=(429, 503))
async def negotiate_personal(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    return respond(await classes.negotiate_personal(call.ctx, call.principal))


@endpoint(bp, "classes/{classId}/state", ["GET"], summary="Snapshot of the class at a seq", tag="live",
          response=ClassState, relation=CLASS_MEMBER, errors=(403, 404, 503))
async def class_state_snapshot(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    found = call.access
    return respond(await class_state.state(call.ctx, call.principal, found.class_id, found=found))


@endpoint(bp, "classes/{classId}/polls", ["POST"], summary="Open a poll (pushes poll.opened)", tag="live",
          request=PollCreate, response=Poll, status=201, relation=CLASS_OWNER, errors=(400, 403, 404, 409, 422),
          idempotent_key=True)
async def open_poll(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    found = call.access
    body = json_body(req, PollCreate)
    return respond(await polls.open_poll(call.ctx, call.principal, found.class_id, body, found=found), status=201)


@endpoint(bp, "classes/{classId}/polls/{pollId}/close", ["POST"], summary="Close a poll with exact final counts",
          tag="live", response=Poll, relation=CLASS_OWNER, errors=(403, 404))
async def close_poll(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    found, poll_id = call.access, route_id(req, "pollId")
    return respond(await polls.close_poll(call.ctx, call.principal, found.class_id, poll_id, found=found))


@endpoint(bp, "classes/{classId}/polls/{pollId}", ["GET"], summary="A poll with its current counts", tag="live",
          response=Poll, relation=CLASS_MEMBER, errors=(403, 404))
async def get_poll(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    found, poll_id = call.access, route_id(req, "pollId")
    return respond(await polls.get_poll(call.ctx, call.principal, found.class_id, poll_id, found=found))


@endpoint(bp, "classes/{classId}/moderation", ["POST"], summary="Mute, unmute, remove, delete a message, lower a hand",
          tag="live", request=ModerationRequest, response=ModerationResult, relation=CLASS_MANAGER,
          errors=(400, 403, 404))
async def moderate(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    found = call.access
    body = json_body(req, ModerationRequest)
    return respond(await moderation.moderate(call.ctx, call.principal, found.class_id, body, found=found))


@endpoint(bp, "classes/{classId}/attendance", ["GET"], summary="Join/leave rows and minutes present per student",
          tag="live", response=AttendanceReport, relation=CLASS_MANAGER, errors=(403, 404))
async def class_attendance(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    found = call.access
    return respond(await attendance.report(call.ctx, call.principal, found.class_id, found=found))


@endpoint(bp, "classes/{classId}/chat", ["GET"], summary="Chat history, newest first", tag="live", query=ChatQuery,
          response=ChatPage, relation=CLASS_MEMBER, errors=(400, 403, 404))
async def chat_history(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    found = call.access
    q = query(req, ChatQuery)
    return respond(await chat.history(call.ctx, call.principal, found.class_id, q, found=found))


@endpoint(bp, "classes/{classId}/recording", ["PUT"], summary="Attach a recording (a registered video) to an ended class",
          tag="live", request=RecordingAttach, response=LiveClass, relation=CLASS_MANAGER, errors=(400, 403, 404, 422))
async def attach_recording(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    found = call.access
    body = json_body(req, RecordingAttach)
    return respond(await recordings.attach_recording(call.ctx, call.principal, found.class_id, body, found=found))


@endpoint(bp, "classes/{classId}/recording", ["DELETE"], summary="Remove the recording of a class (audited)", tag="live",
          status=204, relation=CLASS_MANAGER, errors=(403, 404))
async def remove_recording(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    found = call.access
    await recordings.remove_recording(call.ctx, call.principal, found.class_id, found=found)
    return respond(status=204)


@endpoint(bp, "classes/{classId}/recording/playback", ["GET"], summary="A signed, expiring playback URL of the recording",
          tag="live", response=Playback, relation=CLASS_MEMBER, errors=(403, 404, 422))
async def recording_playback(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    found = call.access
    return respond(await recordings.recording_playback(
        call.ctx, call.principal, found.class_id, user_agent=header(req, "user-agent"), found=found
    ))


@endpoint(bp, "live/app", ["GET"], summary="A page to try a live class (development tokens)", tag="live", auth=False,
          development_only=True)
async def live_app(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    return func.HttpResponse(
        live_page.page_html(), mimetype="text/html", charset="utf-8",
        headers={"Content-Security-Policy": live_page.CONTENT_SECURITY_POLICY},
    )
