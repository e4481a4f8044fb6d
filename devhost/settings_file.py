"""local.settings.json: the app settings and host options a local run reads, as Core Tools does.

Core Tools puts the `Values` of this file into the worker's environment, so the app reads
them exactly as it reads app settings in Azure. The file is never committed; when it is
missing the committed sample stands in, with a log line saying so.
"""

from __future__ import annotations

import json
import logging
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SETTINGS_FILE = "local.settings.json"
SAMPLE_FILE = "local.settings.sample.json"

logger = logging.getLogger("devhost")


class SettingsFileError(Exception):
    """A settings file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class LocalSettings:
    """What one local settings file says."""

    path: Path | None
    values: dict[str, str] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)
    connection_strings: dict[str, str] = field(default_factory=dict)
    from_sample: bool = False

    @property
    def cors(self) -> str:
        """`Host.CORS`: `*` or a comma-separated list of origins; empty when not set."""
        return str(self.host.get("CORS") or "").strip()

    @property
    def cors_credentials(self) -> bool:
        value = self.host.get("CORSCredentials", False)
        return value is True or str(value).strip().lower() == "true"

    @property
    def local_http_port(self) -> int | None:
        value = self.host.get("LocalHttpPort")
        return int(value) if value not in (None, "") else None


def _setting_value(path: Path, name: str, value: Any) -> str:
    # Core Tools hands every value to the worker as a string; JSON scalars are spelled the
    # way .NET would print them, anything structured is a mistake worth stopping for.
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if value is None:
        return ""
    raise SettingsFileError(f"{path}: Values.{name} must be a string, not {type(value).__name__}")


def parse_settings(text: str, path: Path, *, from_sample: bool = False) -> LocalSettings:
    """Parses the text of a local settings file; every problem names the file."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsFileError(f"{path} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(document, dict):
        raise SettingsFileError(f"{path} must hold a JSON object")
    if document.get("IsEncrypted") is True:
        raise SettingsFileError(f"{path} is encrypted (IsEncrypted: true); the local host reads only plain settings")
    raw_values = document.get("Values", {})
    if not isinstance(raw_values, dict):
        raise SettingsFileError(f"{path}: Values must be an object")
    host = document.get("Host", {}) or {}
    if not isinstance(host, dict):
        raise SettingsFileError(f"{path}: Host must be an object")
    raw_connections = document.get("ConnectionStrings", {}) or {}
    if not isinstance(raw_connections, dict):
        raise SettingsFileError(f"{path}: ConnectionStrings must be an object")
    values = {str(k): _setting_value(path, str(k), v) for k, v in raw_values.items()}
    connections = {str(k): _setting_value(path, str(k), v) for k, v in raw_connections.items()}
    return LocalSettings(path=path, values=values, host=host, connection_strings=connections, from_sample=from_sample)


def load_settings(app_dir: Path, explicit: Path | None = None) -> LocalSettings:
    """Reads the settings of the app in `app_dir`.

    An explicit file must exist. Otherwise `local.settings.json` is read, and when it is
    missing `local.settings.sample.json` stands in (logged, so nobody wonders where a value
    came from). With neither, the app gets no extra settings.
    """
    if explicit is not None:
        if not explicit.is_file():
            raise SettingsFileError(f"settings file {explicit} does not exist")
        return parse_settings(_read(explicit), explicit)
    primary = app_dir / SETTINGS_FILE
    if primary.is_file():
        return parse_settings(_read(primary), primary)
    sample = app_dir / SAMPLE_FILE
    if sample.is_file():
        logger.info(
            "%s not found in %s; using %s (copy it to %s to change local values)",
            SETTINGS_FILE, app_dir, SAMPLE_FILE, SETTINGS_FILE,
        )
        return parse_settings(_read(sample), sample, from_sample=True)
    logger.warning("neither %s nor %s found in %s; the app gets no local settings", SETTINGS_FILE, SAMPLE_FILE, app_dir)
    return LocalSettings(path=None)


def _read(path: Path) -> str:
    try:
        # utf-8-sig: editors on some platforms save this file with a byte-order mark.
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsFileError(f"cannot read {path}: {exc}") from None


def apply_to_environment(values: dict[str, str], environ: MutableMapping[str, str]) -> list[str]:
    """Copies settings into the environment without overriding what is already there.

    Variables set by the caller win, so a test run or the service starter can point the
    app at other ports without editing the file. Returns the names that were set.
    """
    applied = []
    for name, value in values.items():
        if name not in environ:
            environ[name] = value
            applied.append(name)
    return applied
