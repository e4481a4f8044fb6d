"""Certificate endpoints: the holder's list and download, and the public verification.

Verification needs no sign-in (an employer checks a code) and is counted per address like
every anonymous read; the holder's endpoints are for any signed-in caller, each seeing
only their own certificates.
"""

from __future__ import annotations

import azure.functions as func

from shared_code.http import Call, endpoint, query, respond
from shared_code.models.certificates import CertificatePage, CertificateVerification
from shared_code.models.content import Download
from shared_code.pagination import PageQuery
from shared_code.services.certificates import reads

bp = func.Blueprint()

TAG = "certificates"


@endpoint(
    bp, "me/certificates", ["GET"], summary="The caller's certificates, newest first, each with its code and PDF state",
    tag=TAG, query=PageQuery, response=CertificatePage,
)
async def my_certificates(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    page = query(req, PageQuery)
    return respond(await reads.list_mine(call.ctx, call.principal, limit=page.limit, cursor=page.cursor))


@endpoint(
    bp, "certificates/{code}", ["GET"],
    summary="Verify a certificate by its code (no sign-in): holder, course and date; 404 for an unknown code",
    tag=TAG, response=CertificateVerification, auth=False, errors=(404, 429),
)
async def verify_certificate(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    return respond(await reads.verify(call.ctx, req.route_params.get("code", "")))


@endpoint(
    bp, "me/certificates/{code}/download", ["GET"],
    summary="A read-only SAS to the holder's certificate PDF, for minutes; 409 while it is still being rendered",
    tag=TAG, response=Download, errors=(404, 409),
)
async def download_certificate(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    return respond(await reads.download(call.ctx, call.principal, req.route_params.get("code", "")))
