"""Student app endpoints: the caller's profile, enrolments (and leaving a free course) and
calendar of live classes, with the signed iCalendar feed calendar apps subscribe to.

Every `me/...` endpoint is about the caller alone, so any signed-in user may call it and
sees only their own rows. Leaving names a course but needs no relation check before the
handler: not being enrolled is its own answer (404). The feed is read without a token
(calendar apps cannot send one); its URL's signature and version are the check.
"""

from __future__ import annotations

import azure.functions as func

from shared_code.http import Call, endpoint, query, respond, route_id
from shared_code.models.me import CalendarFeed, CalendarPage, CalendarQuery, MyEnrollmentPage, Profile
from shared_code.pagination import PageQuery
from shared_code.services.content import calendar, enrollments, profile

bp = func.Blueprint()

TAG = "me"


@endpoint(bp, "me", ["GET"], summary="The caller's profile as stored (name, email, roles)", tag=TAG, response=Profile)
async def my_profile(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    return respond(await profile.get_profile(call.ctx, call.principal))


@endpoint(
    bp, "me/enrollments", ["GET"], summary="The caller's enrolments with progress, newest first", tag=TAG,
    query=PageQuery, response=MyEnrollmentPage,
)
async def my_enrollments(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    page = query(req, PageQuery)
    return respond(await profile.list_enrollments(call.ctx, call.principal, limit=page.limit, cursor=page.cursor))


@endpoint(
    bp, "courses/{courseId}/enrollments/me", ["DELETE"],
    summary="Leave a free course (progress is kept; paid courses end through a refund)", tag=TAG, status=204,
    errors=(404, 422),
)
async def leave_course(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    course_id = route_id(req, "courseId")
    await enrollments.leave(call.ctx, call.principal, course_id)
    return respond(status=204)


@endpoint(
    bp, "me/calendar", ["GET"], summary="Upcoming live classes of the caller's courses, earliest first", tag=TAG,
    query=CalendarQuery, response=CalendarPage, errors=(422,),
)
async def my_calendar(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    return respond(await calendar.list_classes(call.ctx, call.principal, query(req, CalendarQuery)))


@endpoint(
    bp, "me/calendar/feed", ["POST"], summary="A new secret iCalendar feed URL (the previous one stops working)",
    tag=TAG, response=CalendarFeed, status=201,
)
async def rotate_calendar_feed(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    return respond(await calendar.rotate_feed(call.ctx, call.principal), status=201)


@endpoint(
    bp, "calendar/{token}", ["GET"], summary="The iCalendar feed a feed URL names (text/calendar; no sign-in)",
    tag=TAG, auth=False, errors=(404,),
)
async def calendar_feed(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    body = await calendar.feed(call.ctx, req.route_params.get("token", ""))
    return func.HttpResponse(body, status_code=200, mimetype="text/calendar", charset="utf-8")
