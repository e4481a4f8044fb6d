"""The Web PubSub event handler: `OPTIONS` (abuse-protection handshake) and `POST` (CloudEvents
for connect, connected, disconnected and client events) on `/api/webpubsub/events`.

Only the Web PubSub service may call it: every POST must carry a `ce-signature` made with
the service's access key over the connection id, or it is refused with 401 before any
work is done.
"""

from __future__ import annotations

import json

import azure.functions as func

from shared_code.context import get_context
from shared_code.errors import Unauthorized
from shared_code.http import endpoint, header
from shared_code.services import live_events

bp = func.Blueprint()


def _response(reply: live_events.Reply) -> func.HttpResponse:
    if reply.body is None:
        return func.HttpResponse(status_code=reply.status, headers=reply.headers)
    if isinstance(reply.body, str):
        return func.HttpResponse(reply.body, status_code=reply.status, headers=reply.headers, mimetype="text/plain")
    return func.HttpResponse(
        json.dumps(reply.body, separators=(",", ":"), default=str, ensure_ascii=False),
        status_code=reply.status, headers=reply.headers, mimetype="application/json", charset="utf-8",
    )


@endpoint(bp, "webpubsub/events", ["OPTIONS"], summary="Web PubSub abuse-protection handshake", tag="live",
          auth=False, errors=(401,))
async def webpubsub_handshake(req: func.HttpRequest) -> func.HttpResponse:
    ctx = await get_context()
    origin = live_events.allowed_origin(header(req, "webhook-request-origin"), ctx.pubsub.endpoint_host)
    if origin is None:
        raise Unauthorized("This event handler serves only its own Web PubSub service.")
    return func.HttpResponse(status_code=200, headers={"WebHook-Allowed-Origin": origin})


@endpoint(bp, "webpubsub/events", ["POST"], summary="Web PubSub events (CloudEvents): connect, connected, "
          "disconnected, client events", tag="live", auth=False, errors=(400, 401, 403, 404),
          limit_ip_writes=False)  # every student's events come from the service's address
async def webpubsub_events(req: func.HttpRequest) -> func.HttpResponse:
    ctx = await get_context()
    connection_id = header(req, "ce-connectionid") or ""
    if not ctx.pubsub.signature_valid(connection_id, header(req, "ce-signature")):
        raise Unauthorized("The event's signature does not match this service's access key.")
    event = live_events.UpstreamEvent(
        ce_type=header(req, "ce-type") or "",
        event_name=header(req, "ce-eventname") or "",
        connection_id=connection_id,
        user_id=header(req, "ce-userid") or "",
        connection_state=header(req, "ce-connectionstate"),
        body=req.get_body() or b"",
    )
    return _response(await live_events.handle(ctx, event))
