"""Generic `Idempotency-Key` handling for endpoints whose service does not commit the key
itself: a repeat with the same key and body gets the first response again; the same key
with another body is a 409."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable

import azure.functions as func

from shared_code.auth import bearer_token
from shared_code.bootstrap import get_context
from shared_code.http.parsing import header
from shared_code.http.responses import respond
from shared_code.platform import idempotency

Handler = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]


def with_idempotency(name: str, handler: Handler) -> Handler:
    """Wraps `handler` so a replayed key answers from the stored response.

    It runs outside the caller check (`callers.resolve`): a replay needs only to know who
    is asking, and answers as the first call did without counting against the rate again.
    """

    @functools.wraps(handler)
    async def run(req: func.HttpRequest) -> func.HttpResponse:
        key = idempotency.check_key(header(req, "idempotency-key"), required=False)
        if key is None:
            return await handler(req)
        ctx = await get_context()
        principal = await ctx.tokens.verify(bearer_token(req.headers))
        scope = f"{req.method} {name} {json.dumps(dict(req.route_params), sort_keys=True)}"
        body = (req.get_body() or b"").decode("utf-8", "replace")
        previous = await idempotency.replay_or_claim(ctx, user_id=principal.user_id, scope=scope, key=key, body=body)
        if previous is not None:
            replayed = respond(previous.body, status=previous.status)
            replayed.headers["Idempotent-Replayed"] = "true"
            return replayed
        resp: func.HttpResponse | None = None
        try:
            resp = await handler(req)
            return resp
        finally:
            stored = None
            if resp is not None and resp.get_body():
                try:
                    stored = json.loads(resp.get_body())
                except ValueError:
                    stored = None
            await idempotency.settle(
                ctx, user_id=principal.user_id, scope=scope, key=key,
                status=resp.status_code if resp is not None else None, response=stored,
            )

    return run
