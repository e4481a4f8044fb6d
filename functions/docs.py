"""The interactive API reference (development only): Swagger UI over /api/openapi.json."""

from __future__ import annotations

import azure.functions as func

from shared_code import api_docs
from shared_code.http import Call, endpoint

bp = func.Blueprint()


@endpoint(bp, "docs", ["GET"], summary="Interactive API reference (development only)", tag="system", auth=False,
          development_only=True)
async def api_reference(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    return func.HttpResponse(api_docs.page_html(), mimetype="text/html", charset="utf-8",
                             headers={"Content-Security-Policy": api_docs.CONTENT_SECURITY_POLICY})


@endpoint(bp, "docs/assets/{name}", ["GET"], summary="The reference page's scripts and styles (development only)",
          tag="system", auth=False, errors=(404,), development_only=True)
async def api_reference_asset(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    body, media_type = api_docs.asset(req.route_params.get("name", ""))
    return func.HttpResponse(body, mimetype=media_type, charset="utf-8")
