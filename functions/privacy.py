"""Privacy endpoints: a user's export of everything held about them (at once and bounded,
or in full as a file built off the request), and their erasure, for themselves (`/me`)
and by an admin for any user (`services/privacy`)."""

from __future__ import annotations

import azure.functions as func

from shared_code.http import Call, Limit, endpoint, respond, route_id
from shared_code.models.privacy import ExportJob, ExportJobList, PrivacyExport
from shared_code.services.privacy import export_job
from shared_code.services.privacy import operations as privacy

bp = func.Blueprint()
TAG = "privacy"

# An export reads every table about a person: counted per caller, and refused (503) rather
# than unmetered while Redis is down.
EXPORTS_PER_USER = Limit("exports", "user", "rate_limit_exports_per_minute", fail_open=False)


@endpoint(bp, "me/export", ["GET"], summary="Everything Lectern holds about the caller", tag=TAG,
          response=PrivacyExport, limits=(EXPORTS_PER_USER,))
async def export_me(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    return respond(await privacy.export_user(call.ctx, call.principal, call.principal.user_id))


@endpoint(bp, "me/exports", ["POST"],
          summary="Ask for a full export: every row, one JSON file built off the request; 202 when asked now, "
          "200 with the one already pending", tag=TAG, response=ExportJob, status=202, also=(200,),
          limits=(EXPORTS_PER_USER,))
async def request_my_export(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    job, made = await export_job.request_export(call.ctx, call.principal, call.principal.user_id)
    return respond(job, status=202 if made else 200)


@endpoint(bp, "me/exports", ["GET"], summary="The caller's newest full exports (download URLs only from each export's own GET)",
          tag=TAG, response=ExportJobList)
async def my_exports(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    return respond(await export_job.list_exports(call.ctx, call.principal.user_id))


@endpoint(bp, "me/exports/{exportId}", ["GET"],
          summary="A full export of the caller: its state, and while ready a download URL (one file, read-only, minutes)",
          tag=TAG, response=ExportJob, errors=(404,))
async def my_export(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    user_id = call.principal.user_id
    return respond(await export_job.export_status(call.ctx, call.principal, user_id, route_id(req, "exportId")))


@endpoint(bp, "me", ["DELETE"], summary="Erase the caller's account and personal data (audited)", tag=TAG,
          status=204, errors=(503,))
async def erase_me(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    # The account is the caller's own, from the verified token: no id is read from the request.
    await privacy.erase_user(call.ctx, call.principal, call.principal.user_id)
    return respond(status=204)


@endpoint(bp, "admin/users/{userId}/export", ["GET"], summary="Everything Lectern holds about a user (audited)",
          tag=TAG, response=PrivacyExport, roles=("admin",), limits=(EXPORTS_PER_USER,), errors=(404,))
async def admin_export_user(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    user_id = route_id(req, "userId")
    return respond(await privacy.export_user(call.ctx, call.principal, user_id))


@endpoint(bp, "admin/users/{userId}/exports", ["POST"],
          summary="Ask for a full export of a user (audited); 202 when asked now, 200 with the one already pending",
          tag=TAG, response=ExportJob, status=202, also=(200,), roles=("admin",), limits=(EXPORTS_PER_USER,),
          errors=(404,))
async def request_user_export(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    job, made = await export_job.request_export(call.ctx, call.principal, route_id(req, "userId"))
    return respond(job, status=202 if made else 200)


@endpoint(bp, "admin/users/{userId}/exports", ["GET"], summary="A user's newest full exports", tag=TAG,
          response=ExportJobList, roles=("admin",), errors=(404,))
async def user_exports(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    return respond(await export_job.list_exports(call.ctx, route_id(req, "userId")))


@endpoint(bp, "admin/users/{userId}/exports/{exportId}", ["GET"],
          summary="A full export of a user: its state, and while ready a download URL (audited)",
          tag=TAG, response=ExportJob, roles=("admin",), errors=(404,))
async def user_export(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    user_id, export_id = route_id(req, "userId"), route_id(req, "exportId")
    return respond(await export_job.export_status(call.ctx, call.principal, user_id, export_id))


@endpoint(bp, "admin/users/{userId}", ["DELETE"], summary="Erase a user's account and personal data (audited)",
          tag=TAG, status=204, roles=("admin",), errors=(404, 503))
async def admin_erase_user(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    user_id = route_id(req, "userId")
    await privacy.erase_user(call.ctx, call.principal, user_id)
    return respond(status=204)
