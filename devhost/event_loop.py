"""The event loop the app runs on: the one the deployed Python worker gives it.

From Python 3.13 the Functions Python worker sets uvloop's event-loop policy when it starts,
wherever uvloop can be imported (the app lists it in requirements.txt); the workers for older
versions run asyncio's own loop. The local host follows the same rule, so what runs here is
what runs in Azure, timings included.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

_WORKER_USES_UVLOOP_FROM = (3, 13)


def worker_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory where the deployed worker would use it; None for asyncio's own."""
    if sys.version_info[:2] < _WORKER_USES_UVLOOP_FROM:
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
