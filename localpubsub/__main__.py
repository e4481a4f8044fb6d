"""`python -m localpubsub [--config PATH] [--host H] [--port P] [--access-key K] [--upstream-url URL]`."""

from __future__ import annotations

import asyncio
import logging
import sys

from localpubsub.config import load_settings
from localpubsub.server import serve


def main(argv: list[str] | None = None) -> int:
    settings = load_settings(argv)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
