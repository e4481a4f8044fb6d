"""The local host as a whole: settings, indexing, and the HTTP, queue and timer front ends.

Start-up follows the real host's order: read local settings into the environment, read
host.json, index `function_app.py` once, then open the HTTP port and start the queue
listeners and timers. A function disabled with the `AzureWebJobs.<name>.Disabled` app
setting is left out. Shutdown stops fetching work and gives running invocations a short
grace period, like the host draining on stop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

from devhost.connections import SettingLookupError
from devhost.cors import HostCors
from devhost.host_config import HostConfig, HostConfigError, load_host_config
from devhost.http_server import HttpFrontEnd
from devhost.indexing import HTTP_TRIGGER, QUEUE_TRIGGER, TIMER_TRIGGER, IndexedFunction, IndexingError, index_app
from devhost.invocation import Invoker
from devhost.ncrontab import ScheduleError
from devhost.queues import QueueListener, QueueOutputs, StorageClients
from devhost.retry_policy import RetryPolicy, RetryPolicyError
from devhost.routing import RouteTemplateError
from devhost.settings_file import LocalSettings, SettingsFileError, apply_to_environment, load_settings
from devhost.timers import TimerRunner

logger = logging.getLogger("devhost")

DRAIN_SECONDS = 10.0


class HostStartupError(Exception):
    """The host cannot start; the message says which file or function is at fault."""


@dataclass(frozen=True)
class HostOptions:
    app_dir: Path
    host: str = "127.0.0.1"
    port: int | None = None
    settings_file: Path | None = None
    timers: bool = True
    queues: bool = True


def _is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1")


class FunctionsHost:
    """Loads the app and runs its triggers until `stop()`."""

    def __init__(self, options: HostOptions, environ: MutableMapping[str, str] | None = None) -> None:
        self.options = options
        self.environ = os.environ if environ is None else environ
        self.settings: LocalSettings | None = None
        self.config: HostConfig | None = None
        self.functions: list[IndexedFunction] = []
        self.http: HttpFrontEnd | None = None
        self.listeners: list[QueueListener] = []
        self.timers: list[TimerRunner] = []
        self.clients = StorageClients()
        self.invoker: Invoker | None = None
        self.port: int | None = None

    def load(self) -> None:
        """Everything up to indexing; raises HostStartupError with a clear message."""
        app_dir = self.options.app_dir.resolve()
        try:
            self.settings = load_settings(app_dir, self.options.settings_file)
            apply_to_environment(self.settings.values, self.environ)
            self.config = load_host_config(app_dir)
            functions = index_app(app_dir)
        except (SettingsFileError, HostConfigError, IndexingError) as exc:
            raise HostStartupError(str(exc)) from exc
        enabled = []
        for function in functions:
            if _is_true(self.environ.get(f"AzureWebJobs.{function.name}.Disabled")):
                logger.info("Function '%s' is disabled (AzureWebJobs.%s.Disabled)", function.name, function.name)
                continue
            enabled.append(function)
        self.functions = enabled

    async def start(self) -> None:
        if self.config is None:
            self.load()
        assert self.config is not None and self.settings is not None
        self.invoker = Invoker(self.options.app_dir.resolve(), self.config.function_timeout, self.config.level_for)
        try:
            self._build_triggers()
        except (HostStartupError, RouteTemplateError) as exc:
            await self.clients.close()
            raise HostStartupError(str(exc)) from exc
        self.port = self.options.port or self.settings.local_http_port or 7071
        assert self.http is not None
        try:
            await self.http.start(self.options.host, self.port)
        except OSError as exc:
            await self.clients.close()
            raise HostStartupError(f"cannot listen on {self.options.host}:{self.port}: {exc.strerror or exc}") from exc
        for listener in self.listeners:
            listener.start()
        for timer in self.timers:
            timer.start()
        self._log_functions()
        logger.info("Host started: %s", self.http.base_url)

    def _build_triggers(self) -> None:
        assert self.config is not None and self.settings is not None and self.invoker is not None
        outputs = QueueOutputs(self.environ, self.config.queues, self.clients)
        if any(outputs.wants(f) for f in self.functions):
            self.invoker.deliver_outputs = outputs.deliver
        http_functions = [f for f in self.functions if f.trigger_type == HTTP_TRIGGER]
        cors = HostCors.parse(self.settings.cors, self.settings.cors_credentials)
        self.http = HttpFrontEnd(http_functions, self.invoker, self.config.http, cors)
        for function in self.functions:
            try:
                self._add_trigger(function)
            except (SettingLookupError, ScheduleError, RetryPolicyError) as exc:
                raise HostStartupError(f"function '{function.name}': {exc}") from exc

    def _add_trigger(self, function: IndexedFunction) -> None:
        assert self.config is not None and self.invoker is not None
        policy = RetryPolicy.from_settings(function.retry)
        if function.trigger_type == QUEUE_TRIGGER:
            if policy is not None:
                logger.warning(
                    "Function '%s': retry policies do not apply to queue triggers (they retry by redelivery); ignored",
                    function.name,
                )
            if self.options.queues:
                self.listeners.append(QueueListener(function, self.environ, self.config.queues, self.invoker, self.clients))
        elif function.trigger_type == TIMER_TRIGGER:
            if self.options.timers:
                self.timers.append(TimerRunner(function, self.environ, self.invoker, policy))
        elif policy is not None:
            logger.warning("Function '%s': retry policies do not apply to HTTP triggers; ignored", function.name)

    def _log_functions(self) -> None:
        assert self.http is not None
        lines = ["", "Functions:", ""]
        lines += [f"\t{line}" for line in self.http.describe()]
        for listener in self.listeners:
            lines.append(f"\t{listener.function.name}: queueTrigger ({listener.queue_name})")
        for timer in self.timers:
            lines.append(f"\t{timer.function.name}: timerTrigger ({timer.schedule.describe()})")
        skipped = [f.name for f in self.functions if f.trigger_type == QUEUE_TRIGGER and not self.options.queues]
        skipped += [f.name for f in self.functions if f.trigger_type == TIMER_TRIGGER and not self.options.timers]
        if skipped:
            lines.append(f"\t(not running: {', '.join(skipped)})")
        logger.info("\n".join(lines) + "\n")

    async def stop(self) -> None:
        """Stops taking work, lets invocations under way finish (briefly), closes clients."""
        await asyncio.gather(*(listener.stop(DRAIN_SECONDS) for listener in self.listeners))
        await asyncio.gather(*(timer.stop(DRAIN_SECONDS) for timer in self.timers))
        if self.invoker is not None and not await self.invoker.wait_idle(DRAIN_SECONDS):
            logger.warning("%d invocation(s) still running at shutdown", self.invoker.in_flight)
        if self.http is not None:
            await self.http.stop()
        await self.clients.close()
        logger.info("Host stopped")

    async def run_until_signalled(self) -> None:
        """Runs until SIGINT or SIGTERM, then stops gracefully."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        try:
            await stop.wait()
        finally:
            logger.info("Stopping host...")
            await self.stop()
