"""Blob storage for learning materials and certificates, and the short-lived SAS URLs that reach them.

Every SAS is scoped to one blob, one permission, minutes, and (outside development) to
https only, so a link can never be used in clear text. Locally it is signed with the
account key; in Azure (no shared key) with a user delegation key from the managed identity.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobBlock, BlobSasPermissions, ContentSettings, UserDelegationKey, generate_blob_sas
from azure.storage.blob.aio import BlobServiceClient

from shared_code.adapters.azure_sdk import CLIENT_OPTIONS
from shared_code.adapters.storage_account import StorageAccount
from shared_code.circuit import CircuitBreaker, remote_failure
from shared_code.errors import ServiceUnavailable
from shared_code.settings import Settings

TIMEOUT_SECONDS = 10
# Same-account copies finish in moments; longer means storage is struggling.
COPY_WAIT_SECONDS = 30


@dataclass(frozen=True)
class BlobInfo:
    size: int
    content_type: str | None
    etag: str | None = None


class BlobChanged(Exception):
    """The blob is not the version that was checked (changed or gone), or its copy did not finish."""


# One retry about a second later: the Storage SDK's own back-off starts at 15 s, which
# would hold a request that long for every call while Storage is down.
QUICK_RETRY: dict[str, Any] = {"retry_total": 1, "initial_backoff": 0.3, "increment_base": 1, "random_jitter_range": 0.2}


class BlobStore:
    def __init__(self, account: StorageAccount, *, https_only: bool = True) -> None:
        """`https_only=False` only for development, where Azurite speaks plain http."""
        self.account = account
        self.https_only = https_only
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
        self._delegation_key: UserDelegationKey | None = None
        self._delegation_expiry: datetime | None = None
        self.breaker = CircuitBreaker("blob storage", is_failure=remote_failure)

    @classmethod
    def from_settings(cls, settings: Settings) -> BlobStore:
        """The store the app uses: SAS URLs allow plain http only in development (Azurite)."""
        return cls(StorageAccount.from_settings(settings), https_only=not settings.is_development)

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
        return BlobInfo(
            size=props.size,
            content_type=props.content_settings.content_type,
            etag=props.etag,
        )

    async def upload(self, container: str, blob: str, data: bytes, *, content_type: str, content_disposition: str) -> None:
        """Writes one blob whole (overwriting: a retried render writes the same document again)."""
        await self.ensure_container(container)
        async with self.breaker.guard():
            await self.service.get_blob_client(container, blob).upload_blob(
                data,
                overwrite=True,
                content_settings=ContentSettings(content_type=content_type, content_disposition=content_disposition),
            )

    async def upload_blocks(
        self, container: str, blob: str, chunks: AsyncIterator[bytes], *, content_type: str, content_disposition: str
    ) -> int:
        """Writes one blob from chunks as they come, a block per chunk, and returns its size:
        a document too large to hold in memory (a full privacy export). Nothing shows at
        `blob` until the block list commits at the end, so a build that fails midway leaves
        the blob as it was (a build run again writes it whole)."""
        await self.ensure_container(container)
        client = self.service.get_blob_client(container, blob)
        blocks: list[BlobBlock] = []
        size = 0
        async for chunk in chunks:
            block_id = base64.b64encode(f"{len(blocks):08d}".encode()).decode()
            async with self.breaker.guard():
                await client.stage_block(block_id, chunk, length=len(chunk))
            blocks.append(BlobBlock(block_id=block_id))
            size += len(chunk)
        async with self.breaker.guard():
            await client.commit_block_list(
                blocks, content_settings=ContentSettings(content_type=content_type, content_disposition=content_disposition)
            )
        return size

    async def delete(self, container: str, blob: str) -> bool:
        """Deletes one blob; False when it was not there (a retry, or never uploaded)."""
        try:
            async with self.breaker.guard():
                await self.service.get_blob_client(container, blob).delete_blob(delete_snapshots="include")
        except ResourceNotFoundError:
            return False
        return True

    async def set_headers(
        self, container: str, blob: str, *, content_type: str, content_disposition: str, etag: str | None
    ) -> None:
        """What the blob answers every reader with, set only if it is still the checked version."""
        client = self.service.get_blob_client(container, blob)
        try:
            async with self.breaker.guard():
                await client.set_http_headers(
                    ContentSettings(content_type=content_type, content_disposition=content_disposition),
                    etag=etag,
                    match_condition=MatchConditions.IfNotModified if etag else None,
                )
        except (ResourceModifiedError, ResourceNotFoundError):
            raise BlobChanged("the blob changed or vanished") from None

    async def copy(self, container: str, source: str, target: str, *, source_etag: str | None) -> BlobInfo:
        """A server-side copy of one blob within the account, waited for; the copy's properties.

        `source_etag` pins the version that was checked, so a blob swapped in between is not copied.
        """
        source_url, _ = await self.sas_url(container, source, permission="r", minutes=10)
        client = self.service.get_blob_client(container, target)
        extra: dict[str, Any] = {"source_etag": source_etag, "source_match_condition": MatchConditions.IfNotModified} if source_etag else {}
        try:
            async with self.breaker.guard():
                started = await client.start_copy_from_url(source_url, **extra)
        except (ResourceModifiedError, ResourceNotFoundError):
            raise BlobChanged("the upload changed or vanished") from None
        status = started.get("copy_status")
        deadline = asyncio.get_running_loop().time() + COPY_WAIT_SECONDS
        while status == "pending":
            if asyncio.get_running_loop().time() > deadline:
                await client.abort_copy(str(started["copy_id"]))
                raise ServiceUnavailable("Blob storage is slow to copy the upload; publish it again.", retry_after=30)
            await asyncio.sleep(0.2)
            props = await client.get_blob_properties()
            status = props.copy.status
        if status != "success":
            raise BlobChanged(f"the copy ended as {status}")
        info = await self.info(container, target)
        if info is None:
            raise BlobChanged("the copy is gone")
        return info

    async def _signing(self, expiry: datetime) -> dict[str, Any]:
        if self.account.account_key:
            return {"account_key": self.account.account_key}
        now = datetime.now(UTC)
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
        """A URL for exactly one blob with exactly one permission (`c`, `w` or `r`).

        `content_disposition` and `content_type` are response overrides a reader gets
        whatever headers the blob carries.
        """
        expiry = datetime.now(UTC) + timedelta(minutes=minutes)
        perms = BlobSasPermissions(
            read=permission == "r", create=permission == "c", write=permission == "w"
        )
        token = generate_blob_sas(
            account_name=self.account.account_name,
            container_name=container,
            blob_name=blob,
            permission=perms,
            expiry=expiry,
            start=datetime.now(UTC) - timedelta(minutes=2),
            protocol="https" if self.https_only else None,
            content_disposition=content_disposition,
            content_type=content_type,
            **(await self._signing(expiry)),
        )
        url = f"{self.account.endpoint('blob')}/{container}/{blob}?{token}"
        return url, expiry

    async def ping(self) -> None:
        async with self.breaker.guard():
            await self.service.get_account_information()
