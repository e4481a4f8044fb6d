"""`python -m devhost`: serve a Functions app locally, like `func start`.

    python -m devhost [--app-dir DIR] [--port 7071] [--host 127.0.0.1] [--settings FILE]
                      [--no-timers] [--no-queues]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

from devhost.event_loop import worker_loop_factory
from devhost.host import FunctionsHost, HostOptions, HostStartupError
from devhost.host_config import HostConfigError, load_host_config


class _UtcFormatter(logging.Formatter):
    """`[2024-05-01T10:00:00.123Z] message`, the timestamp style of the Functions host."""

    converter = time.gmtime

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging API
        return time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created)) + f".{int(record.msecs):03d}Z"


def configure_logging(level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_UtcFormatter("[%(asctime)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The storage SDK logs every HTTP request at INFO; the host's own log stays readable without it.
    logging.getLogger("azure").setLevel(max(level, logging.WARNING))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost", description="Run a Functions app (function_app.py) locally.")
    parser.add_argument("--app-dir", type=Path, default=Path.cwd(), help="the app root with function_app.py and host.json (default: .)")
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default: Host.LocalHttpPort or 7071)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--settings", type=Path, default=None, help="settings file (default: local.settings.json, else the sample)")
    parser.add_argument("--no-timers", action="store_true", help="do not run timer triggers")
    parser.add_argument("--no-queues", action="store_true", help="do not run queue triggers")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    app_dir = args.app_dir.resolve()
    try:
        level = load_host_config(app_dir).log_level
    except HostConfigError:
        level = logging.INFO  # the host reports the error itself when it loads
    configure_logging(level)
    options = HostOptions(
        app_dir=app_dir,
        host=args.host,
        port=args.port,
        settings_file=args.settings,
        timers=not args.no_timers,
        queues=not args.no_queues,
    )
    host = FunctionsHost(options)
    try:
        host.load()
        with asyncio.Runner(loop_factory=worker_loop_factory()) as runner:
            runner.run(host.run_until_signalled())
    except HostStartupError as exc:
        logging.getLogger("devhost").error("Host failed to start: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
