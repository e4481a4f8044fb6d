"""Blob storage for learning materials, and the short-lived SAS URLs that reach them.

Every SAS is scoped to one blob, one permission, minutes. Locally it is signed with the
account key; in Azure (no shared key) with a user delegation key from the managed identity.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobSasPermissions, generate_blob_sas
from azure.storage.blob.aio import BlobServiceClient

from shared_code.adapters.azure_sdk import CLIENT_OPTIONS
from shared_code.adapters.storage_account import StorageAccount
from shared_code.circuit import CircuitBreaker, remote_failure

TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class BlobInfo:
    size: int
    content_type: str | None


# One retry about a second later: the Storage SDK's own back-off starts at 15 s, which
# would hold a request that long for every call while Storage is down.
QUICK_RETRY = {"retry_total": 1, "initial_backoff": 0.3, "increment_base": 1, "random_jitter_range": 0.2}


class BlobStore:
    def __init__(self, account: StorageAccount) -> None:
        self.account = account
        if account.connection_string:
            self.service = BlobServiceClient.from_connection_string(
                account.connection_string,
                connection_timeout=TIMEOUT_SECONDS,
                read_timeout=TIMEOUT_SECONDS,
                **QUICK_RETRY,
                **CLIENT_OPTIONS,
            )
        else:
            self.service = BlobServiceClient(
                account_url=account.endpoint("blob"), credential=account.credential(), **QUICK_RETRY, **CLIENT_OPTIONS
            )
        self._ensured: set[str] = set()
        self._lock = asyncio.Lock()
        self._delegation_key = None
        self._delegation_expiry: datetime | None = None
        self.breaker = CircuitBreaker("blob storage", is_failure=remote_failure)

    async def close(self) -> None:
        await self.service.close()

    async def ensure_container(self, container: str) -> None:
        if container in self._ensured:
            return
        async with self._lock:
            try:
                await self.service.create_container(container)
            except ResourceExistsError:
                pass
            self._ensured.add(container)

    async def info(self, container: str, blob: str) -> BlobInfo | None:
        try:
            async with self.breaker.guard():
                props = await self.service.get_blob_client(container, blob).get_blob_properties()
        except ResourceNotFoundError:
            return None
        return BlobInfo(size=props.size, content_type=props.content_settings.content_type)

    async def _signing(self, expiry: datetime) -> dict:
        if self.account.account_key:
            return {"account_key": self.account.account_key}
        now = datetime.now(timezone.utc)
        if self._delegation_key is None or self._delegation_expiry is None or self._delegation_expiry < expiry:
            self._delegation_expiry = now + timedelta(hours=6)
            self._delegation_key = await self.service.get_user_delegation_key(now - timedelta(minutes=5), self._delegation_expiry)
        return {"user_delegation_key": self._delegation_key}

    async def sas_url(
        self,
        container: str,
        blob: str,
        *,
        permission: str,
        minutes: int,
        content_disposition: str | None = None,
        content_type: str | None = None,
    ) -> tuple[str, datetime]:
        """A URL for exactly one blob with exactly one permission (`c`, `w` or `r`)."""
        expiry = datetime.now(timezone.utc) + timedelta(minutes=minutes)
        perms = BlobSasPermissions(
            read=permission == "r", create=permission == "c", write=permission == "w"
        )
        token = generate_blob_sas(
            account_name=self.account.account_name,
            container_name=container,
            blob_name=blob,
            permission=perms,
            expiry=expiry,
            start=datetime.now(timezone.utc) - timedelta(minutes=2),
            protocol=None,
            content_disposition=content_disposition,
            content_type=content_type,
            **(await self._signing(expiry)),
        )
        url = f"{self.account.endpoint('blob')}/{container}/{blob}?{token}"
        return url, expiry

    async def ping(self) -> None:
        async with self.breaker.guard():
            await self.service.get_account_information()
