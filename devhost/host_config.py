"""host.json: the options of the Functions host that change how triggers behave.

Only the parts the local host acts on are read: the HTTP route prefix and concurrency
limits, the queue trigger's polling and retry options, `functionTimeout` and the default
log level. Keys are matched case-insensitively, as the host's configuration does.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST_FILE = "host.json"

# Flex Consumption's default; Consumption uses 5 minutes. host.json normally sets it.
DEFAULT_FUNCTION_TIMEOUT = 30 * 60.0

_TIMESPAN = re.compile(r"^(?:(?P<days>\d+)\.)?(?P<hours>\d{1,2}):(?P<minutes>\d{1,2}):(?P<seconds>\d{1,2}(?:\.\d{1,7})?)$")

_LOG_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "information": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "none": logging.CRITICAL + 10,
}


class HostConfigError(Exception):
    """host.json is unusable; the message names the file and the setting."""


def parse_timespan(text: str) -> float:
    """A .NET TimeSpan (`hh:mm:ss`, `hh:mm:ss.fff` or `d.hh:mm:ss`) in seconds."""
    match = _TIMESPAN.match(text.strip())
    if not match:
        raise ValueError(f"'{text}' is not a time span (expected hh:mm:ss)")
    days = int(match["days"] or 0)
    hours, minutes, seconds = int(match["hours"]), int(match["minutes"]), float(match["seconds"])
    if hours > 23 or minutes > 59 or seconds >= 60:
        raise ValueError(f"'{text}' is not a time span (hours 0-23, minutes and seconds 0-59)")
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


def format_timespan(seconds: float) -> str:
    """Seconds written the way the host prints TimeSpans in its logs."""
    whole = int(seconds)
    fraction = seconds - whole
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    if fraction:
        text += f".{int(round(fraction * 1000)):03d}"
    return text


@dataclass(frozen=True)
class HttpOptions:
    route_prefix: str = "api"
    max_concurrent_requests: int | None = None
    max_outstanding_requests: int | None = None


@dataclass(frozen=True)
class QueueOptions:
    """`extensions.queues`, with the host's defaults."""

    max_polling_interval: float = 60.0
    visibility_timeout: float = 0.0
    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    message_encoding: str = "base64"


@dataclass(frozen=True)
class HostConfig:
    path: Path | None = None
    http: HttpOptions = field(default_factory=HttpOptions)
    queues: QueueOptions = field(default_factory=QueueOptions)
    function_timeout: float | None = DEFAULT_FUNCTION_TIMEOUT
    log_level: int = logging.INFO
    # logging.logLevel's categories other than "default", lower-cased, with their levels.
    category_levels: dict[str, int] = field(default_factory=dict)

    def level_for(self, category: str) -> int:
        """The level of a log category as the host picks it: the longest configured category
        that is the category itself or a dotted prefix of it (case-insensitive), else the
        default (`Function.chat` follows "Function.chat", then "Function", then "default")."""
        name = category.lower()
        best, level = -1, self.log_level
        for configured, configured_level in self.category_levels.items():
            if (name == configured or name.startswith(configured + ".")) and len(configured) > best:
                best, level = len(configured), configured_level
        return level


def _lower_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k).lower(): _lower_keys(v) for k, v in value.items()}
    return value


def _positive_limit(raw: Any, where: str) -> int | None:
    # The host uses -1 for "unbounded".
    if raw is None:
        return None
    number = int(raw)
    if number == -1:
        return None
    if number < 1:
        raise ValueError(f"{where} must be -1 or a positive number")
    return number


def parse_host_config(text: str, path: Path) -> HostConfig:
    """Reads the options the local host acts on from the text of a host.json."""
    try:
        document = _lower_keys(json.loads(text))
    except json.JSONDecodeError as exc:
        raise HostConfigError(f"{path} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(document, dict):
        raise HostConfigError(f"{path} must hold a JSON object")
    if str(document.get("version", "")) != "2.0":
        raise HostConfigError(f"{path}: \"version\" must be \"2.0\" (the Functions 4.x host reads nothing else)")
    try:
        extensions = document.get("extensions", {}) or {}
        http = extensions.get("http", {}) or {}
        prefix = http.get("routeprefix", "api")
        http_options = HttpOptions(
            route_prefix=str(prefix if prefix is not None else "api").strip("/"),
            max_concurrent_requests=_positive_limit(http.get("maxconcurrentrequests"), "http.maxConcurrentRequests"),
            max_outstanding_requests=_positive_limit(http.get("maxoutstandingrequests"), "http.maxOutstandingRequests"),
        )
        queue_options = _queue_options(extensions.get("queues", {}) or {})
        raw_timeout = document.get("functiontimeout")
        if raw_timeout is None:
            timeout: float | None = DEFAULT_FUNCTION_TIMEOUT
        elif str(raw_timeout).strip() == "-1":
            timeout = None
        else:
            timeout = parse_timespan(str(raw_timeout))
            if timeout <= 0:
                raise ValueError("functionTimeout must be positive or -1")
        levels = dict((document.get("logging", {}) or {}).get("loglevel", {}) or {})
        log_level = _level(levels.pop("default", "Information"), "default")
        category_levels = {str(category): _level(name, str(category)) for category, name in levels.items()}
    except (ValueError, TypeError, AttributeError) as exc:
        raise HostConfigError(f"{path}: {exc}") from None
    return HostConfig(path=path, http=http_options, queues=queue_options, function_timeout=timeout, log_level=log_level,
                      category_levels=category_levels)


def _level(name: Any, category: str) -> int:
    level = _LOG_LEVELS.get(str(name).lower())
    if level is None:
        raise ValueError(f"logging.logLevel.{category} '{name}' is not a log level")
    return level


def _queue_options(queues: dict[str, Any]) -> QueueOptions:
    defaults = QueueOptions()
    batch_size = int(queues.get("batchsize", defaults.batch_size))
    if not 1 <= batch_size <= 32:
        raise ValueError("queues.batchSize must be between 1 and 32")
    threshold = int(queues.get("newbatchthreshold", batch_size // 2))
    if threshold < 0:
        raise ValueError("queues.newBatchThreshold must not be negative")
    polling = parse_timespan(str(queues["maxpollinginterval"])) if "maxpollinginterval" in queues else defaults.max_polling_interval
    if polling < 0.1:
        raise ValueError("queues.maxPollingInterval must be at least 00:00:00.100")
    visibility = parse_timespan(str(queues["visibilitytimeout"])) if "visibilitytimeout" in queues else defaults.visibility_timeout
    max_dequeue = int(queues.get("maxdequeuecount", defaults.max_dequeue_count))
    if max_dequeue < 1:
        raise ValueError("queues.maxDequeueCount must be at least 1")
    encoding = str(queues.get("messageencoding", defaults.message_encoding)).lower()
    if encoding not in ("base64", "none"):
        raise ValueError("queues.messageEncoding must be 'base64' or 'none'")
    return QueueOptions(
        max_polling_interval=polling,
        visibility_timeout=visibility,
        batch_size=batch_size,
        new_batch_threshold=threshold,
        max_dequeue_count=max_dequeue,
        message_encoding=encoding,
    )


def load_host_config(app_dir: Path) -> HostConfig:
    """host.json of the app in `app_dir`; the host refuses to start without one."""
    path = app_dir / HOST_FILE
    if not path.is_file():
        raise HostConfigError(f"{path} not found: a Functions app needs a host.json at its root")
    return parse_host_config(path.read_text(encoding="utf-8-sig"), path)
