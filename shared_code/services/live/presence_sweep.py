"""The presence sweep: a live class's connections whose `disconnected` never came, found
and let go on a clock (the timer `sweep_live_presence`).

The heals in `admission.py` find such a connection only when something else happens to
its class or its user: a refused connect, or another of the user's connections leaving. A
student whose only connection was lost (the host was down when Web PubSub sent its
`disconnected`) and who never comes back would stay present, counted and with a raised
hand until the class ends. The sweep reads, once per live class, which connections Web
PubSub still has in the class's group (one paged REST call), takes those admitted at least
`admission.HEAL_MIN_AGE_MS` ago that it lacks, and asks about each of those alone
(`connection_exists`, so a connection the group somehow dropped but that is still open is
never let go). Those gone leave as `disconnected` would have made them: out of the caps
(the class's and their user's), the presence, attendance's leave row, the head count, a
raised hand lowered.

The same sweep ends a class nobody has been in for `live_idle_end_minutes` (a tutor who
closed the tab instead of pressing End): otherwise it stays live for days, listed as live,
its open attendance counting on, walked by every timer.
"""

from __future__ import annotations

import logging

from shared_code.adapters.postgres import classes as classes_sql
from shared_code.adapters.redis import live_admission as admission_redis
from shared_code.adapters.redis import live_presence as presence_redis
from shared_code.context import AppContext
from shared_code.services.live import admission, class_walk, classes, presence
from shared_code.services.live import messages as live_messages

logger = logging.getLogger("lectern.live")

# The admitted connections one sweep considers per class.
SWEEP_CONNECTIONS = 20_000


async def sweep_class(ctx: AppContext, class_id: str) -> list[str]:
    """The class's connections that were lost and are now let go."""
    before = live_messages.now_ms() - admission.HEAL_MIN_AGE_MS
    candidates = await admission_redis.admitted_before(ctx.redis, class_id, None, before, SWEEP_CONNECTIONS)
    if not candidates:
        return []
    return await _let_go_lost(ctx, class_id, candidates)


async def end_if_idle(ctx: AppContext, class_id: str, *, now_ms: int | None = None) -> bool:
    """Ends the class once nobody has been in it for `live_idle_end_minutes` (counted from
    the first sweep that found it empty; anyone present clears that). True when ended."""
    idle_ms = ctx.settings.live_idle_end_minutes * 60_000
    if not idle_ms:
        return False
    now = live_messages.now_ms() if now_ms is None else now_ms
    since = await presence_redis.empty_since(ctx.redis, class_id, now)
    if since is None or now - since < idle_ms:
        return False
    return await classes.end_idle_class(ctx, class_id)


async def _let_go_lost(ctx: AppContext, class_id: str, candidates: list[str]) -> list[str]:
    in_group = await ctx.pubsub.group_connections(live_messages.class_group(class_id))
    gone = await admission.gone_from_service(ctx, [c for c in candidates if c not in in_group])
    if not gone:
        return []
    owners = await presence_redis.connections(ctx.redis, class_id)
    by_user: dict[str, list[str]] = {}
    for connection_id in gone:
        by_user.setdefault(owners.get(connection_id, ""), []).append(connection_id)
    for user_id, connection_ids in by_user.items():
        await admission_redis.release(ctx.redis, class_id, user_id or None, connection_ids)
    await presence.forget_lost(ctx, class_id, gone)
    logger.info("lost connections let go", extra={"classId": class_id, "count": len(gone)})
    return gone


async def sweep_live_classes(ctx: AppContext, *, page_size: int = class_walk.PAGE_SIZE) -> int:
    """Sweeps every live class, however many run; how many connections were let go. A class
    whose sweep fails (Web PubSub or Redis unreachable) is tried again at the next run."""
    let_go = 0
    async for class_id in class_walk.class_ids(ctx, classes_sql.live_class_ids, page_size=page_size):
        try:
            let_go += len(await sweep_class(ctx, class_id))
            await end_if_idle(ctx, class_id)
        except Exception as exc:  # noqa: BLE001 - one class's failure must not stop the others
            logger.warning("presence of class %s not swept: %s", class_id, type(exc).__name__)
    return let_go
