"""Settings of the local Web PubSub service.

They come from `settings.json` beside this module (or the file named by `--config`), then
environment variables, then command-line flags; each later source wins. Nothing else in the
package reads the environment.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_SETTINGS_FILE = Path(__file__).with_name("settings.json")

SYSTEM_EVENTS = ("connect", "connected", "disconnected")


class EventHandler(BaseModel):
    """One upstream of a hub, as in the service's hub settings: a URL template and the
    events it receives. `{hub}` and `{event}` in the template are filled per call."""

    model_config = ConfigDict(extra="forbid")

    url_template: str
    system_events: list[str] = Field(default_factory=list)
    user_events: list[str] = Field(default_factory=list)

    @field_validator("system_events")
    @classmethod
    def _known_system_events(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in SYSTEM_EVENTS]
        if unknown:
            raise ValueError(f"unknown system events {unknown}; expected some of {list(SYSTEM_EVENTS)}")
        return value

    def handles_system(self, event: str) -> bool:
        return event in self.system_events

    def handles_user(self, event: str) -> bool:
        return "*" in self.user_events or event in self.user_events

    def url_for(self, hub: str, event: str) -> str:
        return self.url_template.replace("{hub}", hub).replace("{event}", event)


class HubSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_handlers: list[EventHandler] = Field(default_factory=list)

    def handler_for_system(self, event: str) -> EventHandler | None:
        """The first handler that takes this system event, as the service picks them in order."""
        return next((h for h in self.event_handlers if h.handles_system(event)), None)

    def handler_for_user(self, event: str) -> EventHandler | None:
        return next((h for h in self.event_handlers if h.handles_user(event)), None)


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    access_key: str = Field(min_length=1)
    # The host clients and event handlers know this service by (the token audience of
    # generated tokens, `WebHook-Request-Origin`); the listening host when unset.
    public_host: str | None = None
    log_level: str = "info"
    max_message_bytes: int = Field(1_048_576, ge=1)
    send_buffer_limit_bytes: int = Field(4 * 1_048_576, ge=1024)
    reliable_grace_seconds: float = Field(30.0, ge=0)
    # Handshake answers and acks leave this long after the request, as over a network. The
    # sync Python client (azure-messaging-webpubsubclient 1.1.0) starts waiting for the
    # handshake and for each ack only after it has sent its request, so an answer that
    # beats it is missed and the client stalls for its 30 s timeout; a real service is
    # never that fast. 0 turns it off.
    simulated_latency_ms: float = Field(10.0, ge=0, le=1000)
    reliable_buffer_limit_bytes: int = Field(16 * 1_048_576, ge=1024)
    upstream_timeout_seconds: float = Field(20.0, gt=0)
    upstream_validation_retry_seconds: float = Field(5.0, ge=0)
    open_files_limit: int = Field(65536, ge=256)
    hubs: dict[str, HubSettings] = Field(default_factory=dict)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.lower()
        if level not in {"debug", "info", "warning", "error", "critical"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @property
    def host_name(self) -> str:
        if self.public_host:
            return self.public_host
        return "127.0.0.1" if self.host in {"0.0.0.0", "::", ""} else self.host

    def hub_settings(self, hub: str) -> HubSettings:
        """A hub without settings still works; it just has no upstream."""
        return self.hubs.get(hub) or _NO_UPSTREAM

    def with_upstream_url(self, url: str) -> Settings:
        """Point every configured handler at `url`; with no hub configured, give hub `live`
        the default events, since that is the hub the app uses."""
        hubs = dict(self.hubs) or {
            "live": HubSettings(
                event_handlers=[EventHandler(url_template=url, system_events=list(SYSTEM_EVENTS), user_events=["*"])]
            )
        }
        moved = {
            name: HubSettings(
                event_handlers=[h.model_copy(update={"url_template": url}) for h in hub.event_handlers]
            )
            for name, hub in hubs.items()
        }
        return self.model_copy(update={"hubs": moved})


_NO_UPSTREAM = HubSettings()

# Environment variable → settings field.
ENVIRONMENT = {
    "LOCALPUBSUB_HOST": "host",
    "LOCALPUBSUB_PORT": "port",
    "LOCALPUBSUB_ACCESS_KEY": "access_key",
    "LOCALPUBSUB_LOG_LEVEL": "log_level",
}


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m localpubsub", description="Local Web PubSub service")
    parser.add_argument("--config", help=f"settings file (default {DEFAULT_SETTINGS_FILE})")
    parser.add_argument("--host", help="address to listen on")
    parser.add_argument("--port", type=int, help="port to listen on")
    parser.add_argument("--access-key", help="access key that signs and checks every token")
    parser.add_argument("--upstream-url", help="event handler URL for every configured hub")
    parser.add_argument("--log-level", help="debug, info, warning or error")
    return parser.parse_args(argv)


def load_settings(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from the file, the environment and the command line, in that order."""
    args = parse_arguments(argv)
    environ = os.environ if environ is None else environ
    path = Path(args.config or environ.get("LOCALPUBSUB_CONFIG") or DEFAULT_SETTINGS_FILE)
    raw = json.loads(path.read_text(encoding="utf-8"))
    for variable, field in ENVIRONMENT.items():
        if environ.get(variable):
            raw[field] = environ[variable]
    flags = {"host": args.host, "port": args.port, "access_key": args.access_key, "log_level": args.log_level}
    raw.update({field: value for field, value in flags.items() if value is not None})
    settings = Settings.model_validate(raw)
    upstream_url = args.upstream_url or environ.get("LOCALPUBSUB_UPSTREAM_URL")
    if upstream_url:
        settings = settings.with_upstream_url(upstream_url)
    return settings
