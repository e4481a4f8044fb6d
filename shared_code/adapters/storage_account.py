"""How to reach the storage account: a connection string locally, the managed identity in Azure."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from azure.core.credentials_async import AsyncTokenCredential

from shared_code.adapters.identity import app_credential
from shared_code.settings import Settings, expand_storage_connection


@dataclass(frozen=True)
class StorageAccount:
    connection_string: str
    account_name: str

    @classmethod
    def from_settings(cls, settings: Settings) -> StorageAccount:
        conn = expand_storage_connection(settings.storage_connection_string.get_secret_value())
        name = settings.storage_account_name
        if conn and not name:
            name = cls._parse(conn).get("accountname", "")
        if settings.uses_identity:
            # The identity signs in; a key in a connection string is never used.
            conn = ""
        return cls(connection_string=conn, account_name=name)

    @staticmethod
    def _parse(conn: str) -> dict[str, str]:
        parts = (p.split("=", 1) for p in conn.split(";") if "=" in p)
        return {k.strip().lower(): v.strip() for k, v in parts}

    @cached_property
    def account_key(self) -> str | None:
        return self._parse(self.connection_string).get("accountkey") if self.connection_string else None

    def endpoint(self, service: str) -> str:
        """The service URL (`blob`, `queue` or `table`)."""
        if self.connection_string:
            parsed = self._parse(self.connection_string)
            explicit = parsed.get(f"{service}endpoint")
            if explicit:
                return explicit.rstrip("/")
            suffix = parsed.get("endpointsuffix", "core.windows.net")
            protocol = parsed.get("defaultendpointsprotocol", "https")
            return f"{protocol}://{self.account_name}.{service}.{suffix}"
        return f"https://{self.account_name}.{service}.core.windows.net"

    def credential(self) -> AsyncTokenCredential:
        """The process's identity (managed identity in Azure, developer login elsewhere); only
        used when no connection string is set. One credential serves blobs, queues and tables."""

        return app_credential()
