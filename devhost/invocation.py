"""Running one function invocation the way the worker does, and logging it the way the host does.

Arguments are passed by binding name (the trigger's `arg_name`, `func.Out` objects for
output bindings, and `context` when the function asks for it). `async def` functions run
on the host's event loop; plain functions run in a thread pool so they cannot stall it.
`functionTimeout` from host.json bounds every invocation.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import secrets
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions import _abc as func_abc

from devhost.host_config import format_timespan
from devhost.indexing import IndexedFunction

logger = logging.getLogger("Function")

# A quiet invocation (a timer run: every few seconds, usually finding nothing to do) logs its
# Executing/Executed lines at DEBUG, so they do not bury the rest of the log; it logs them
# at INFO after all when it fails or runs longer than this.
QUIET_UNTIL_SECONDS = 1.0


class OutputValue(func.Out[Any]):
    """The `func.Out` handed to a function for one of its output bindings."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


class _Failure(func_abc.RpcException):
    def __init__(self, error: BaseException) -> None:
        self._error = error

    @property
    def source(self) -> str:
        return type(self._error).__module__

    @property
    def stack_trace(self) -> str:
        return user_traceback(self._error)

    @property
    def message(self) -> str:
        return f"{type(self._error).__name__}: {self._error}"


class RetryState(func_abc.RetryContext):
    """Which retry of a failed invocation this is, for functions that take a `context`."""

    def __init__(self, retry_count: int, max_retry_count: int, error: BaseException | None) -> None:
        self._retry_count = retry_count
        self._max_retry_count = max_retry_count
        self._error = error

    @property
    def retry_count(self) -> int:
        return self._retry_count

    @property
    def max_retry_count(self) -> int:
        return self._max_retry_count

    @property
    def exception(self) -> func_abc.RpcException | None:  # type: ignore[override]
        return _Failure(self._error) if self._error is not None else None


class _Trace(func_abc.TraceContext):
    def __init__(self) -> None:
        self._parent = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"

    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return self._parent

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class InvocationContext(func.Context):
    """`func.Context` for one invocation."""

    def __init__(self, invocation_id: str, function_name: str, function_directory: str, retry: RetryState | None) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory
        self._retry = retry or RetryState(0, 0, None)
        self._trace = _Trace()
        self._storage = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> threading.local:  # type: ignore[override]
        return self._storage

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> func_abc.TraceContext:
        return self._trace

    @property
    def retry_context(self) -> func_abc.RetryContext:
        return self._retry


@dataclass
class InvocationResult:
    invocation_id: str
    succeeded: bool
    value: Any = None
    outputs: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None
    timed_out: bool = False
    duration_ms: float = 0.0


_HOST_DIR = str(Path(__file__).resolve().parent)
_ASYNCIO_DIR = str(Path(asyncio.__file__).resolve().parent)
_EXECUTOR_DIR = str(Path(concurrent.futures.__file__).resolve().parent)


def user_traceback(error: BaseException) -> str:
    """The traceback from the first frame of the app's code on, as the worker reports it."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith((_HOST_DIR, _ASYNCIO_DIR, _EXECUTOR_DIR)):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb or error.__traceback__)).rstrip()


class _Announcement:
    """The "Executing" line of one invocation: logged at once, or held while it is quiet.

    A quiet invocation's line is logged at DEBUG when DEBUG is on; otherwise it is held with
    its original timestamp and logged at INFO only if the invocation turns out to matter
    (fails, or is still running after `QUIET_UNTIL_SECONDS`), so the Executed line that then
    appears always has its Executing line before it.
    """

    def __init__(self, log: logging.Logger, message: str, args: tuple[Any, ...], *, quiet: bool) -> None:
        self._log = log
        self._held: logging.LogRecord | None = None
        self._timer: asyncio.TimerHandle | None = None
        if not quiet:
            log.info(message, *args)
        elif log.isEnabledFor(logging.DEBUG):
            log.debug(message, *args)
        elif log.isEnabledFor(logging.INFO):
            self._held = log.makeRecord(log.name, logging.INFO, __file__, 0, message, args, None)

    def release_after(self, seconds: float) -> None:
        if self._held is not None:
            self._timer = asyncio.get_running_loop().call_later(seconds, self.release)

    def release(self) -> None:
        """Logs the held line now (once), if there is one."""
        self.cancel()
        if self._held is not None:
            record, self._held = self._held, None
            self._log.handle(record)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Invoker:
    """Runs invocations and keeps count of those in flight, so shutdown can wait for them."""

    def __init__(
        self, app_dir: Path, function_timeout: float | None, level_for: Callable[[str], int] | None = None
    ) -> None:
        self.app_dir = app_dir
        self.function_timeout = function_timeout
        # host.json's level of a log category; the "Executing"/"Executed" lines of a function
        # are in category `Function.<name>`, as the host writes them.
        self._level_for = level_for
        self._loggers: dict[str, logging.Logger] = {}
        self.in_flight = 0
        # Set by the host when the app has output bindings to deliver after a success.
        self.deliver_outputs: Callable[[IndexedFunction, Any, dict[str, Any]], Awaitable[None]] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def _logger(self, function_name: str) -> logging.Logger:
        log = self._loggers.get(function_name)
        if log is None:
            log = logging.getLogger(f"{logger.name}.{function_name}")
            if self._level_for is not None:
                log.setLevel(self._level_for(log.name))
            self._loggers[function_name] = log
        return log

    async def wait_idle(self, timeout: float) -> bool:
        """Waits until no invocation runs; False when `timeout` passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def invoke(
        self,
        function: IndexedFunction,
        inputs: dict[str, Any],
        reason: str,
        retry: RetryState | None = None,
        *,
        quiet: bool = False,
    ) -> InvocationResult:
        """Runs `function` once with `inputs` (binding name → value) and logs it.

        `quiet` invocations log at DEBUG unless they fail or pass `QUIET_UNTIL_SECONDS`.
        """
        invocation_id = str(uuid.uuid4())
        qualified = f"Functions.{function.name}"
        log = self._logger(function.name)
        executing = _Announcement(
            log, "Executing '%s' (Reason='%s', Id=%s)", (qualified, reason, invocation_id), quiet=quiet
        )
        outputs = {str(b["name"]): OutputValue() for b in function.output_bindings}
        kwargs: dict[str, Any] = {**inputs, **outputs}
        if function.takes_context:
            kwargs["context"] = InvocationContext(invocation_id, function.name, str(self.app_dir), retry)
        self.in_flight += 1
        self._idle.clear()
        started = time.perf_counter()
        executing.release_after(QUIET_UNTIL_SECONDS)
        result = InvocationResult(invocation_id=invocation_id, succeeded=False)
        try:
            result.value = await asyncio.wait_for(self._call(function, kwargs), self.function_timeout)
            result.outputs = {name: out.get() for name, out in outputs.items()}
            if self.deliver_outputs is not None:
                await self.deliver_outputs(function, result.value, result.outputs)
            result.succeeded = True
        except TimeoutError as exc:
            result.error, result.timed_out = exc, True
            log.error(
                "Timeout value of %s exceeded by function '%s' (Id: '%s'). Initiating cancellation.",
                format_timespan(self.function_timeout or 0), qualified, invocation_id,
            )
        except Exception as exc:  # noqa: BLE001 - any failure of user code is the invocation's failure
            result.error = exc
        finally:
            # The held line is logged below or not at all: no timer may log it later (cancelled host).
            executing.cancel()
            self.in_flight -= 1
            if self.in_flight == 0:
                self._idle.set()
        result.duration_ms = (time.perf_counter() - started) * 1000
        slow = result.duration_ms >= QUIET_UNTIL_SECONDS * 1000
        if result.succeeded:
            level = logging.DEBUG if quiet and not slow else logging.INFO
            if level == logging.INFO:
                executing.release()
            else:
                executing.cancel()
            log.log(level, "Executed '%s' (Succeeded, Id=%s, Duration=%dms)", qualified, invocation_id, result.duration_ms)
        else:
            executing.release()
            error = result.error
            assert error is not None
            log.error(
                "Executed '%s' (Failed, Id=%s, Duration=%dms)\nException while executing function: %s. %s: %s\n%s",
                qualified, invocation_id, result.duration_ms, qualified, type(error).__name__, error,
                user_traceback(error),
            )
        return result

    async def _call(self, function: IndexedFunction, kwargs: dict[str, Any]) -> Any:
        if function.is_async:
            return await function.user_function(**kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(function.user_function, **kwargs))
