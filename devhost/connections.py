"""Connections and app-setting expressions in binding definitions, resolved as the host does.

A binding names its connection (`connection="AzureWebJobsStorage"`); the host looks the
name up in the app settings, then with an `AzureWebJobs` prefix. `UseDevelopmentStorage=true`
means the local storage emulator's well-known account. `%Name%` in a queue name or a
schedule is replaced by the app setting `Name`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

DEFAULT_STORAGE_CONNECTION = "AzureWebJobsStorage"

# The storage emulator's published development account (in Microsoft's Azurite docs; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

_APP_SETTING = re.compile(r"%([^%]+)%")


class SettingLookupError(LookupError):
    """A connection or app setting a binding refers to is not configured."""


def azurite_connection_string(
    blob_port: int = 10000, queue_port: int = 10001, table_port: int = 10002, host: str = "127.0.0.1"
) -> str:
    """The full connection string of a storage emulator on the given ports."""
    base = f"http://{host}"
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={base}:{blob_port}/{AZURITE_ACCOUNT};"
        f"QueueEndpoint={base}:{queue_port}/{AZURITE_ACCOUNT};"
        f"TableEndpoint={base}:{table_port}/{AZURITE_ACCOUNT};"
    )


def is_development_storage(value: str) -> bool:
    return value.replace(" ", "").lower().startswith("usedevelopmentstorage=true")


def resolve_storage_connection(connection: str | None, environ: Mapping[str, str]) -> str:
    """The storage connection string a binding's `connection` name stands for."""
    name = (connection or "").strip() or DEFAULT_STORAGE_CONNECTION
    for candidate in (name, f"AzureWebJobs{name}"):
        value = environ.get(candidate, "").strip()
        if value:
            return azurite_connection_string() if is_development_storage(value) else value
    if any(key.startswith(f"{name}__") for key in environ):
        raise SettingLookupError(
            f"connection '{name}' is identity-based ({name}__...); the local host needs a connection string "
            f"in '{name}' (UseDevelopmentStorage=true for the storage emulator)"
        )
    raise SettingLookupError(f"connection '{name}' is not set: add it to local.settings.json Values or the environment")


def resolve_app_settings(text: str, environ: Mapping[str, str]) -> str:
    """Replaces every `%Name%` in `text` with the app setting `Name`."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise SettingLookupError(f"app setting '{name}' (used as %{name}% in '{text}') is not set")
        return environ[name]

    return _APP_SETTING.sub(replace, text)
