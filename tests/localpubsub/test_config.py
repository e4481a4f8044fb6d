"""Settings: the file beside the package, then the environment, then flags (pure logic)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localpubsub.config import DEFAULT_SETTINGS_FILE, load_settings

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def test_the_default_key_is_the_one_the_app_uses_locally() -> None:
    sample = json.loads((REPO / "local.settings.sample.json").read_text())
    connection_string = sample["Values"]["WebPubSubConnectionString"]
    app_key = dict(part.split("=", 1) for part in connection_string.split(";") if part)["AccessKey"]
    settings = load_settings([], environ={})
    assert settings.access_key == app_key
    assert settings.port == 8080
    live = settings.hub_settings("live").handler_for_system("connect")
    assert live is not None and live.url_template == "http://127.0.0.1:7071/api/webpubsub/events"
    assert settings.hub_settings("live").handler_for_user("anything") is live
    assert settings.hub_settings("unconfigured").event_handlers == []


def test_environment_overrides_the_file_and_flags_override_both(tmp_path: Path) -> None:
    environ = {
        "LOCALPUBSUB_PORT": "9001",
        "LOCALPUBSUB_ACCESS_KEY": "from-env",
        "LOCALPUBSUB_UPSTREAM_URL": "http://127.0.0.1:7171/api/webpubsub/events",
    }
    settings = load_settings([], environ=environ)
    assert (settings.port, settings.access_key) == (9001, "from-env")
    assert settings.hub_settings("live").event_handlers[0].url_template.endswith(":7171/api/webpubsub/events")

    settings = load_settings(["--port", "9002", "--upstream-url", "http://127.0.0.1:1/{hub}/{event}"], environ=environ)
    assert settings.port == 9002 and settings.access_key == "from-env"
    assert settings.hub_settings("live").event_handlers[0].url_for("live", "connect") == "http://127.0.0.1:1/live/connect"

    custom = json.loads(DEFAULT_SETTINGS_FILE.read_text())
    custom.update(port=7000, hubs={})
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(custom))
    settings = load_settings(["--config", str(path), "--upstream-url", "http://127.0.0.1:2/events"], environ={})
    assert settings.port == 7000
    handler = settings.hub_settings("live").handler_for_system("disconnected")
    assert handler is not None and handler.url_template == "http://127.0.0.1:2/events"


def test_unknown_settings_and_events_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"access_key": "k", "prot": 1}))
    with pytest.raises(ValueError):
        load_settings(["--config", str(path)], environ={})
    path.write_text(
        json.dumps({"access_key": "k", "hubs": {"h": {"event_handlers": [{"url_template": "http://x", "system_events": ["connectd"]}]}}})
    )
    with pytest.raises(ValueError):
        load_settings(["--config", str(path)], environ={})
