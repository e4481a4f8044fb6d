"""The one place an exception becomes an HTTP answer: domain errors map to their
problem+json, an unreachable store to a 503 with Retry-After, anything else to a logged 500."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable

import azure.functions as func
import psycopg
import psycopg_pool
import redis.exceptions
from azure.core.exceptions import ServiceRequestError, ServiceResponseError

from shared_code import problems
from shared_code.errors import LecternError, ServiceUnavailable
from shared_code.http.responses import finish

Handler = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]

logger = logging.getLogger("lectern.http")


def _dependency_down(exc: BaseException) -> bool:
    """True for the errors that mean a store is unreachable, not that the request is bad."""
    return isinstance(
        exc,
        (
            psycopg.OperationalError,
            psycopg_pool.PoolTimeout,
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            ServiceRequestError,
            ServiceResponseError,
            asyncio.TimeoutError,
            ConnectionError,
        ),
    )


def guarded(name: str, handler: Handler) -> Handler:
    """Runs a handler and maps whatever it raises to a problem+json response."""

    @functools.wraps(handler)
    async def run(req: func.HttpRequest) -> func.HttpResponse:
        started = time.perf_counter()
        try:
            resp = await handler(req)
        except LecternError as exc:
            resp = problems.from_error(exc)
        except Exception as exc:  # noqa: BLE001 - the one place that catches everything
            if _dependency_down(exc):
                logger.warning("dependency unavailable in %s: %s", name, type(exc).__name__)
                resp = problems.from_error(
                    ServiceUnavailable("A service this request needs is unavailable; retry shortly.", retry_after=5)
                )
            else:
                resp = problems.internal_error(exc, function=name)
        if resp.status_code >= 500:
            logger.warning("%s answered %s in %.1f ms", name, resp.status_code, (time.perf_counter() - started) * 1000)
        return finish(req, resp)

    return run
