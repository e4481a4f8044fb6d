"""The Web PubSub event handler: `OPTIONS` (abuse-protection handshake) and `POST` (CloudEvents
for connect, connected, disconnected and client events) on `/api/webpubsub/events`; and the
timer that lets go of live connections whose `disconnected` never came.

Only the Web PubSub service may call it: every POST must carry a `ce-signature` made with
the service's access key over the connection id, or it is refused with 401 before any
work is done. Its `ce-*` headers are read as printable ASCII or the call gets 400.
"""

from __future__ import annotations

import azure.functions as func

from shared_code import json_codec, telemetry
from shared_code.bootstrap import get_context
from shared_code.errors import BadRequest, Unauthorized
from shared_code.http import Call, endpoint, header
from shared_code.services.live import events as live_events
from shared_code.services.live import presence_sweep

bp = func.Blueprint()


# The CloudEvents headers an event call carries, read in one pass.
_CE_HEADERS = ("ce-type", "ce-eventname", "ce-connectionid", "ce-userid", "ce-connectionstate", "ce-signature")


def _cloud_event_headers(req: func.HttpRequest) -> dict[str, str]:
    """The CloudEvents headers as text ('' when absent). Web PubSub sends only printable
    ASCII in them (ids, names, hex signatures, base64 state); anything else did not come
    from the service, and gets 400."""
    found: dict[str, str] = {}
    for name in _CE_HEADERS:
        value = (req.headers.get(name) or "").strip()
        if not (value.isascii() and value.isprintable()):
            raise BadRequest(f"The {name} header must be printable ASCII.")
        found[name] = value
    return found


def _response(reply: live_events.Reply) -> func.HttpResponse:
    if reply.body is None:
        return func.HttpResponse(status_code=reply.status, headers=reply.headers)
    if isinstance(reply.body, str):
        return func.HttpResponse(reply.body, status_code=reply.status, headers=reply.headers, mimetype="text/plain")
    return func.HttpResponse(
        json_codec.dumps(reply.body),
        status_code=reply.status, headers=reply.headers, mimetype="application/json", charset="utf-8",
    )


@endpoint(bp, "webpubsub/events", ["OPTIONS"], summary="Web PubSub abuse-protection handshake", tag="live",
          auth=False, errors=(401,))
async def webpubsub_handshake(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    origin = live_events.allowed_origin(header(req, "webhook-request-origin"), call.ctx.pubsub.endpoint_host)
    if origin is None:
        raise Unauthorized("This event handler serves only its own Web PubSub service.")
    return func.HttpResponse(status_code=200, headers={"WebHook-Allowed-Origin": origin})


@endpoint(bp, "webpubsub/events", ["POST"], summary="Web PubSub events (CloudEvents): connect, connected, "
          "disconnected, client events", tag="live", auth=False, errors=(400, 401, 403, 404),
          limit_ip_writes=False)  # every student's events come from the service's address
async def webpubsub_events(req: func.HttpRequest, call: Call) -> func.HttpResponse:
    ce = _cloud_event_headers(req)
    connection_id = ce["ce-connectionid"]
    if not call.ctx.pubsub.signature_valid(connection_id, ce["ce-signature"]):
        raise Unauthorized("The event's signature does not match this service's access key.")
    event = live_events.UpstreamEvent(
        ce_type=ce["ce-type"],
        event_name=ce["ce-eventname"],
        connection_id=connection_id,
        user_id=ce["ce-userid"],
        connection_state=ce["ce-connectionstate"] or None,
        body=req.get_body() or b"",
    )
    return _response(await live_events.handle(call.ctx, event))


@bp.timer_trigger(schedule="%LECTERN_PRESENCE_SWEEP_SCHEDULE%", arg_name="timer", run_on_startup=False)
async def sweep_live_presence(timer: func.TimerRequest, context: func.Context) -> None:
    """Lets go of live-class connections Web PubSub no longer has whose `disconnected`
    never came, so a student lost that way does not stay present until the class ends."""
    with telemetry.timer_run("sweep_live_presence", context.invocation_id):
        await presence_sweep.sweep_live_classes(await get_context())
