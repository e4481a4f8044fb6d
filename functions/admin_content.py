"""Admin endpoints of the admin app: the user directory, platform analytics, and takedowns
of courses and materials (hidden everywhere, audited, reversible)."""

from __future__ import annotations

import azure.functions as func

from shared_code.http import Call, endpoint, json_body, query, respond, route_id
from shared_code.models.admin import (
    AdminUserPage,
    AnalyticsQuery,
    PlatformAnalytics,
    Takedown,
    TakedownRequest,
    UserQuery,
)
from shared_code.services.admin import analytics, directory, takedowns

bp = func.Blueprint()

ADMINS = ("admin",)


@endpoint(bp, "admin/users", ["GET"], summary="Users by a part of their name or email, and by role", tag="admin",
          query=UserQuery, response=AdminUserPage, roles=ADMINS)
async def admin_users(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    return respond(await directory.search_users(call.ctx, query(req, UserQuery)))


@endpoint(bp, "admin/analytics", ["GET"], summary="Platform figures per UTC day over a range (default 30 days)",
          tag="admin", query=AnalyticsQuery, response=PlatformAnalytics, roles=ADMINS)
async def admin_analytics(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    return respond(await analytics.platform_analytics(call.ctx, query(req, AnalyticsQuery)))


@endpoint(bp, "admin/courses/{courseId}/takedown", ["POST"], summary="Take a course down everywhere (audited)",
          tag="admin", request=TakedownRequest, response=Takedown, roles=ADMINS, errors=(404,))
async def take_down_course(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    course_id = route_id(req, "courseId")
    body = json_body(req, TakedownRequest)
    return respond(await takedowns.set_course(call.ctx, call.principal, course_id, body.reason))


@endpoint(bp, "admin/courses/{courseId}/takedown", ["DELETE"], summary="Restore a taken-down course (audited)",
          tag="admin", response=Takedown, roles=ADMINS, errors=(404,))
async def restore_course(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    course_id = route_id(req, "courseId")
    return respond(await takedowns.set_course(call.ctx, call.principal, course_id, None))


@endpoint(bp, "admin/materials/{materialId}/takedown", ["POST"], summary="Take a material down everywhere (audited)",
          tag="admin", request=TakedownRequest, response=Takedown, roles=ADMINS, errors=(404,))
async def take_down_material(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    material_id = route_id(req, "materialId")
    body = json_body(req, TakedownRequest)
    return respond(await takedowns.set_material(call.ctx, call.principal, material_id, body.reason))


@endpoint(bp, "admin/materials/{materialId}/takedown", ["DELETE"], summary="Restore a taken-down material (audited)",
          tag="admin", response=Takedown, roles=ADMINS, errors=(404,))
async def restore_material(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    material_id = route_id(req, "materialId")
    return respond(await takedowns.set_material(call.ctx, call.principal, material_id, None))
