"""The live-class demo page's script (development only), bundled by esbuild from
shared_code/static/live.ts; the page itself is `GET /api/live/app` in functions/live.py."""

from __future__ import annotations

import azure.functions as func

from shared_code.http import Call, endpoint
from shared_code.services.live import page as live_page

bp = func.Blueprint()


@endpoint(bp, "live/app.js", ["GET"], summary="The live-class page's script (development only)", tag="live",
          auth=False, errors=(404,), development_only=True)
async def live_app_script(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    return func.HttpResponse(live_page.bundle(), mimetype="text/javascript", charset="utf-8")
