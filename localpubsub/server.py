"""The aiohttp application: client WebSockets and REST in one event loop, and running it."""

from __future__ import annotations

import asyncio
import logging
import resource
import signal

from aiohttp import web

from localpubsub.client_endpoint import ClientEndpoint
from localpubsub.config import Settings
from localpubsub.connections import Registry
from localpubsub.rest import RestApi
from localpubsub.upstream import Upstream

logger = logging.getLogger("localpubsub")

REGISTRY = web.AppKey("registry", Registry)
UPSTREAM = web.AppKey("upstream", Upstream)
# Closing handshakes still running when the service stops get this long.
SHUTDOWN_GRACE_SECONDS = 2.0


def raise_open_files_limit(wanted: int) -> int:
    """Every connection is a file descriptor; the usual soft limit of 1024 would cap the
    service far below the thousands of connections a large class needs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        logger.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
        return soft
    return target


def build_app(settings: Settings) -> web.Application:
    registry = Registry(settings)
    upstream = Upstream(settings)
    registry.events = upstream
    clients = ClientEndpoint(settings, registry, upstream)
    rest = RestApi(settings, registry)

    # Requests above the message limit are refused with 413; the margin leaves room for
    # the JSON bodies of group operations.
    app = web.Application(middlewares=[rest.middleware], client_max_size=settings.max_message_bytes + 65536)
    app[REGISTRY] = registry
    app[UPSTREAM] = upstream
    app.add_routes(rest.routes())
    app.router.add_get("/client/hubs/{hub}", clients.handle, allow_head=False)
    app.router.add_get("/client", clients.handle, allow_head=False)
    app.router.add_get("/client/", clients.handle, allow_head=False)

    async def start_upstream(app: web.Application) -> None:
        await upstream.start()

    async def close_connections(app: web.Application) -> None:
        for hub in list(registry.hubs.values()):
            for conn in list(hub.connections.values()):
                registry.close(conn, "The service is shutting down.", 1001)
        try:
            await asyncio.wait_for(registry.shutdown(), SHUTDOWN_GRACE_SECONDS)
        except TimeoutError:
            logger.warning("some clients did not finish the closing handshake in time")

    async def close_upstream(app: web.Application) -> None:
        await upstream.close()

    app.on_startup.append(start_upstream)
    app.on_shutdown.append(close_connections)
    app.on_cleanup.append(close_upstream)
    return app


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Listen until `stop` is set (or SIGINT/SIGTERM arrives)."""
    files = raise_open_files_limit(settings.open_files_limit)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    app = build_app(settings)
    access_log = logging.getLogger("aiohttp.access") if settings.log_level == "debug" else None
    runner = web.AppRunner(app, access_log=access_log, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE_SECONDS)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, backlog=4096, reuse_address=True)
    await site.start()
    hubs = ", ".join(
        f"{name} -> {', '.join(h.url_template for h in hub.event_handlers) or 'no upstream'}"
        for name, hub in settings.hubs.items()
    )
    logger.info(
        "localpubsub listening on http://%s:%d (open-file limit %s; hubs: %s)",
        settings.host, settings.port, files, hubs or "none configured",
    )
    try:
        await stop.wait()
    finally:
        logger.info("localpubsub stopping")
        await runner.cleanup()
