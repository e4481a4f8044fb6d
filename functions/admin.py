"""Admin endpoints: audit trail, dead letters, roles."""

from __future__ import annotations

import azure.functions as func
from pydantic import Field

from shared_code.errors import NotFound
from shared_code.http import Call, endpoint, json_body, query, respond, route_id
from shared_code.models.admin import AuditPage, AuditQuery, DeadLetterPage, ReplayResult, RolesUpdate, UserRoles
from shared_code.models.base import ApiModel
from shared_code.services.admin import operations as admin_service

bp = func.Blueprint()


class DeadLetterQuery(ApiModel):
    limit: int = Field(32, ge=1, le=32)


@endpoint(bp, "admin/audit", ["GET"], summary="Audit trail, newest first", tag="admin",
          query=AuditQuery, response=AuditPage, roles=("admin",))
async def admin_audit(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    q = query(req, AuditQuery)
    items, next_cursor = await admin_service.read_audit(call.ctx, q)
    return respond(AuditPage(items=items, next_cursor=next_cursor))


@endpoint(bp, "admin/deadletters", ["GET"], summary="Poison-queue messages with their reason", tag="admin",
          query=DeadLetterQuery, response=DeadLetterPage, roles=("admin",))
async def admin_dead_letters(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    q = query(req, DeadLetterQuery)
    items = await admin_service.list_dead_letters(call.ctx, q.limit)
    return respond(DeadLetterPage(items=items, next_cursor=None))


@endpoint(bp, "admin/deadletters/{messageId}/replay", ["POST"], summary="Put one dead letter back on its work queue",
          tag="admin", response=ReplayResult, roles=("admin",), errors=(404,))
async def admin_replay_dead_letter(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    message_id = req.route_params.get("messageId", "")
    if not message_id or len(message_id) > 100:
        raise NotFound("No dead letter has that id.")
    result = await admin_service.replay_dead_letter(call.ctx, call.principal, message_id)
    return respond(result)


@endpoint(bp, "admin/users/{userId}/roles", ["PUT"], summary="Set a user's roles (audited)", tag="admin",
          request=RolesUpdate, response=UserRoles, roles=("admin",), errors=(404,))
async def admin_set_roles(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    user_id = route_id(req, "userId")
    body = json_body(req, RolesUpdate)
    result = await admin_service.set_user_roles(call.ctx, call.principal, user_id, body.roles)
    return respond(result)
