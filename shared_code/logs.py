"""Log records that say which invocation, trace, class, course and (hashed) user they belong
to, and never carry a token, a key or an email address.

The entry points bind what they know once (`bind`: the endpoint decorator, the Web PubSub
event handler, the queue trigger, the timers) in a context variable; `LogContextFilter`, put
on every handler by `install`, copies it onto each record as it is handled and scrubs the
message and every extra field. So no log call anywhere has to pass these fields or remember
to leave a secret out. Locally `JsonLines` writes one JSON object per line; in Azure the
OpenTelemetry log handler exports the same attributes as custom dimensions.

User ids are never written as they are: `user_hash` is an HMAC-SHA256 of the id under a key
derived from the connection-state key (a server secret required outside development), so
one user's lines can be followed across a session without the id itself being in the logs,
and nobody without the key can test a guessed id against them.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import hmac
import json
import logging
import re
import secrets
import sys
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

from shared_code.settings import Settings

# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}
CONTEXT_FIELDS = ("invocationId", "traceId", "classId", "courseId", "userHash", "operation")

REDACTED = "[redacted]"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*"), f"Bearer {REDACTED}"),
    # A JWT (three base64url parts, the first a JSON header) anywhere, with or without "Bearer".
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    # SAS signatures, account keys, passwords and tokens in URLs and connection strings.
    (re.compile(r"(?i)\b(sig|accountkey|accesskey|password|pwd|secret|token|access_token)=([^&;\s\"']+)"),
     rf"\1={REDACTED}"),
    (re.compile(r"(?i)(://[^:/\s@]+):([^@/\s]+)@"), rf"\1:{REDACTED}@"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), "[email]"),
)
# Extra fields whose value is dropped whatever it looks like.
_SECRET_KEYS = re.compile(r"(?i)(token|authorization|password|secret|signature|email|cookie|apikey|api_key)")
# Extra fields that hold a user id: written hashed.
_USER_KEYS = frozenset({"userId", "user_id", "studentId", "tutorId", "actorId", "subject", "sub"})


def redact(text: str) -> str:
    """`text` with bearer tokens, JWTs, email addresses and URL or connection-string secrets
    replaced."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


_hash_key: bytes = b""


def set_hash_key(settings: Settings) -> None:
    """Derives the user-hash key from the connection-state key (its own purpose, its own key)."""
    global _hash_key
    try:
        secret = settings.connection_state_signing_key
    except RuntimeError:
        # No key outside development: the app refuses to build its context anyway; until
        # then, hashes under a random key (stable for this process only) and never raw ids.
        secret = secrets.token_bytes(32)
    _hash_key = hmac.new(secret, b"lectern log user hash", hashlib.sha256).digest()


def user_hash(user_id: str) -> str:
    """A stable pseudonym for `user_id`: 16 hex digits of HMAC-SHA256 under the log key."""
    return hmac.new(_hash_key, user_id.encode(), hashlib.sha256).hexdigest()[:16]


class LogFields(NamedTuple):
    """What the entry point knows about the work under way. The user id is kept raw here (in
    memory only) and hashed when a record is written, so a request that logs nothing pays
    nothing for it. A tuple: made and replaced on every request, so it must be cheap."""

    invocation_id: str | None = None
    trace_id: str | None = None
    operation: str | None = None
    class_id: str | None = None
    course_id: str | None = None
    user_id: str | None = None


_NOTHING_BOUND = LogFields()  # a tuple: safe to share as the default
_fields: contextvars.ContextVar[LogFields] = contextvars.ContextVar("lectern_log_fields", default=_NOTHING_BOUND)


def start(fields: LogFields) -> contextvars.Token[LogFields]:
    """Binds a fresh set of fields (an entry point, at the start of an invocation)."""
    return _fields.set(fields)


def bind(**values: str | None) -> contextvars.Token[LogFields]:
    """Sets fields for the rest of this task (values that are None keep what was bound)."""
    return _fields.set(_fields.get()._replace(**{k: v for k, v in values.items() if v is not None}))


def reset(token: contextvars.Token[LogFields]) -> None:
    _fields.reset(token)


@contextlib.contextmanager
def bound(**values: str | None) -> Iterator[None]:
    """`bind` for the length of a block (the queue and timer triggers)."""
    token = bind(**values)
    try:
        yield
    finally:
        _fields.reset(token)


def current() -> LogFields:
    return _fields.get()


# Set by telemetry when tracing is on: the trace id of the current span, or None.
_active_trace_id: Any = None


def set_trace_source(source: Any) -> None:
    """`source()` returns the current span's trace id (hex) or None; telemetry sets it."""
    global _active_trace_id
    _active_trace_id = source


def _scrub(key: str, value: Any) -> Any:
    if key in _USER_KEYS and isinstance(value, str) and value:
        return user_hash(value)
    if _SECRET_KEYS.search(key):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return redact(str(value))


class LogContextFilter(logging.Filter):
    """Puts the bound fields on each of the app's records (the `lectern` tree) and scrubs
    it; runs once per record, whichever of the handlers it reaches first."""

    def filter(self, record: logging.LogRecord) -> bool:
        # The app's records only: the host's own lines (one or two per invocation) and the
        # SDKs' pass untouched, so they cost nothing here.
        if "invocationId" in record.__dict__ or not record.name.startswith("lectern"):
            return True
        fields = _fields.get()
        trace_id = _active_trace_id() if _active_trace_id is not None else None
        record.invocationId = fields.invocation_id
        record.traceId = trace_id or fields.trace_id
        record.operation = fields.operation
        record.classId = fields.class_id
        record.courseId = fields.course_id
        record.userHash = user_hash(fields.user_id) if fields.user_id else None
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed call still logs its template
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        for key, value in list(record.__dict__.items()):
            if key not in _RECORD_ATTRS and key not in CONTEXT_FIELDS:
                record.__dict__[key] = _scrub(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


_FILTER = LogContextFilter()


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the context fields that are
    set, the extra fields, and the exception (scrubbed) if any."""

    def format(self, record: logging.LogRecord) -> str:
        _FILTER.filter(record)  # a no-op when a handler's filter has run already
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_FIELDS:
            value = record.__dict__.get(key)
            if value:
                out[key] = value
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and key not in CONTEXT_FIELDS:
                out[key] = value
        if record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, default=str, ensure_ascii=False)


def protect(handler: logging.Handler) -> None:
    """Puts the context filter on `handler` (once)."""
    if _FILTER not in handler.filters:
        handler.addFilter(_FILTER)


class AppRecordsAsJson(logging.Formatter):
    """A console handler's formatter that writes the app's records (the `lectern` tree) as
    JSON lines and leaves everyone else's (the host's own lines) to the formatter it had."""

    def __init__(self, host: logging.Formatter | None) -> None:
        super().__init__()
        self.host = host or logging.Formatter()
        self._json = JsonLines()

    def format(self, record: logging.LogRecord) -> str:
        if record.name == "lectern" or record.name.startswith("lectern."):
            return self._json.format(record)
        return self.host.format(record)


def install(settings: Settings) -> None:
    """Filters every handler the app's records can reach (the worker's or local host's on the
    root logger, the exporter's on `lectern`). With LECTERN_LOG_FORMAT=json the console
    handlers (those writing to stdout or stderr) write the app's records as JSON lines; the
    records still propagate as before, so every other handler sees them unchanged."""
    set_hash_key(settings)
    handlers = [*logging.getLogger().handlers, *logging.getLogger("lectern").handlers]
    for handler in handlers:
        protect(handler)
        console = isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stderr, sys.stdout)
        if settings.log_format == "json" and console and not isinstance(handler.formatter, AppRecordsAsJson):
            handler.setFormatter(AppRecordsAsJson(handler.formatter))
