"""Azure Web PubSub: client URLs for negotiate, server pushes, group membership, and the
signature check of upstream (event handler) calls."""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import jwt
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import AsyncBearerTokenCredentialPolicy, SansIOHTTPPolicy
from azure.core.rest import HttpRequest
from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient

from shared_code import json_codec
from shared_code.adapters.azure_sdk import CLIENT_OPTIONS, lean_pipeline
from shared_code.adapters.identity import app_credential
from shared_code.circuit import CircuitBreaker, remote_failure
from shared_code.settings import Settings

TIMEOUT_SECONDS = 5
SDK_MONIKER = "messaging-webpubsubservice"
SCOPE = "https://webpubsub.azure.com/.default"


def parse_connection_string(value: str) -> dict[str, str]:
    parts = (p.split("=", 1) for p in value.split(";") if "=" in p)
    return {k.strip().lower(): v.strip() for k, v in parts}


def _json_value(message: dict[str, Any]) -> Any:
    """The message as plain JSON values. With `application/json` the SDK serialises what it
    is given, so handing it an already-encoded string would reach clients as one JSON string
    instead of an object."""
    return json_codec.plain(message)


class PubSub:
    def __init__(self, settings: Settings, *, credential: AsyncTokenCredential | None = None) -> None:
        self.hub = settings.webpubsub_hub
        self.token_minutes = settings.webpubsub_token_minutes
        # The event handler signs connection states with it: no app without one.
        settings.connection_state_signing_key  # noqa: B018 - raises when it is missing
        self._access_keys: list[str] = []
        self.breaker = CircuitBreaker("web pubsub", is_failure=remote_failure)
        self.endpoint_host: str | None = urlsplit(settings.webpubsub_endpoint).hostname if settings.webpubsub_endpoint else None
        connection_string = settings.webpubsub_connection_string.get_secret_value()
        if connection_string:
            parsed = parse_connection_string(connection_string)
            if parsed.get("accesskey"):
                self._access_keys.append(parsed["accesskey"])
            self.endpoint_host = urlsplit(parsed.get("endpoint", "")).hostname or self.endpoint_host
        options: dict[str, Any] = {
            "connection_timeout": TIMEOUT_SECONDS, "read_timeout": TIMEOUT_SECONDS, **CLIENT_OPTIONS,
        }
        # With an access key the app signs for itself: its REST calls (`SignedPerUrl`) and the
        # client tokens of negotiate (`client_url`), with the key the SDK would sign them with.
        self._token_key: str | None = None
        if connection_string and not settings.uses_identity:
            self._token_key = self._access_keys[0] if self._access_keys else None
            signed = SignedPerUrl(self._token_key or "")
            self.client = WebPubSubServiceClient.from_connection_string(
                connection_string, hub=self.hub, policies=lean_pipeline(SDK_MONIKER, signed), **options,
            )
        else:
            # The identity calls the REST API and signs client tokens (through the service);
            # a connection string, if any, only lends its key to check upstream signatures.
            endpoint = settings.webpubsub_endpoint or f"https://{self.endpoint_host}"
            credential = credential or app_credential()
            self.client = WebPubSubServiceClient(
                endpoint=endpoint, hub=self.hub, credential=credential,
                policies=lean_pipeline(SDK_MONIKER, AsyncBearerTokenCredentialPolicy(credential, SCOPE)), **options,
            )

        # The audience and base URL the SDK would give client tokens (its endpoint, ws(s) for clients).
        endpoint_url = str(self.client._config.endpoint).lower().rstrip("/")
        self._audience = f"{endpoint_url}/client/hubs/{self.hub}"
        self._client_base = "ws" + self._audience[4:]

    async def close(self) -> None:
        await self.client.close()

    # --- negotiate ------------------------------------------------------------------
    async def client_url(
        self, *, user_id: str, groups: list[str] | None = None, roles: list[str] | None = None, minutes: int | None = None
    ) -> tuple[str, datetime]:
        """A client URL with its token. With an access key the token is signed here, with the
        claims the SDK signs (HS256 over audience, subject, roles, groups, expiry), without a
        trip through the SDK's pipeline; with an identity the service signs it (a REST call)."""
        minutes = minutes or self.token_minutes
        if self._token_key is None:
            token = await self.client.get_client_access_token(
                user_id=user_id, roles=roles or [], groups=groups or [], minutes_to_expire=minutes
            )
            return token["url"], datetime.now(UTC) + timedelta(minutes=minutes)
        now = datetime.now(UTC)
        expires_at = now + timedelta(minutes=minutes)
        claims: dict[str, Any] = {"aud": self._audience, "iat": now, "exp": expires_at, "sub": user_id}
        if roles:
            claims["role"] = roles
        if groups:
            claims["webpubsub.group"] = groups
        return f"{self._client_base}?access_token={jwt.encode(claims, self._token_key, algorithm='HS256')}", expires_at

    # --- pushes ---------------------------------------------------------------------
    async def send_to_group(
        self, group: str, message: dict[str, Any], *, excluded: list[str] | None = None, where: str | None = None
    ) -> None:
        """`where` is an OData filter on the group's connections (`userId ne '...'`)."""
        async with self.breaker.guard():
            await self.client.send_to_group(
                group, _json_value(message), content_type="application/json", excluded=excluded, filter=where
            )

    async def send_to_user(self, user_id: str, message: dict[str, Any]) -> None:
        async with self.breaker.guard():
            await self.client.send_to_user(user_id, _json_value(message), content_type="application/json")

    async def send_to_connection(self, connection_id: str, message: dict[str, Any]) -> None:
        async with self.breaker.guard():
            await self.client.send_to_connection(connection_id, _json_value(message), content_type="application/json")

    # --- membership -----------------------------------------------------------------
    async def add_connection_to_group(self, group: str, connection_id: str) -> None:
        async with self.breaker.guard():
            await self.client.add_connection_to_group(group, connection_id)

    async def remove_user_from_group(self, group: str, user_id: str) -> None:
        async with self.breaker.guard():
            await self.client.remove_user_from_group(group, user_id)

    async def close_user_connections(self, user_id: str, reason: str) -> None:
        async with self.breaker.guard():
            await self.client.close_user_connections(user_id, reason=reason)

    async def close_connection(self, connection_id: str, reason: str) -> None:
        async with self.breaker.guard():
            await self.client.close_connection(connection_id, reason=reason)

    async def connection_exists(self, connection_id: str) -> bool:
        async with self.breaker.guard():
            return bool(await self.client.connection_exists(connection_id))

    async def empty_group(self, group: str) -> None:
        """Takes every connection out of `group` in one call, however many it holds: the
        service's remove-from-groups, filtered to that group's members. This SDK version has
        no method for the operation; `send_request` is its way to the rest of the REST API,
        through the same pipeline (signing, timeouts) as every other call."""
        literal = "'" + group.replace("'", "''") + "'"
        request = HttpRequest(
            "POST",
            f"/api/hubs/{quote(self.hub, safe='')}/:removeFromGroups",
            params={"api-version": self.client._config.api_version},
            json={"groups": [group], "filter": f"{literal} in groups"},
        )
        async with self.breaker.guard():
            response = await self.client.send_request(request)
            response.raise_for_status()

    async def group_connections(self, group: str) -> set[str]:
        """The ids of every connection in the group now, read a page at a time."""
        async with self.breaker.guard():
            return {member.connection_id async for member in self.client.list_connections(group=group)}

    async def ping(self) -> None:
        async with self.breaker.guard():
            await self.client.group_exists("lectern-health-probe")

    # --- upstream -------------------------------------------------------------------
    def signature_valid(self, connection_id: str, signature_header: str | None) -> bool:
        """`ce-signature` holds one `sha256=<hex>` per access key; any match is enough."""
        if not signature_header or not connection_id or not self._access_keys:
            return False
        return _signed_by_one_of(tuple(self._access_keys), connection_id, signature_header)


class SignedPerUrl(SansIOHTTPPolicy[Any, Any]):
    """Signs a REST call with an access key as the SDK's own key policy does (HS256 over the
    request's URL as audience and an expiry a minute away), but once per URL for half a
    minute rather than once per call: a class's broadcasts all go to one group's URL, and a
    quiz submit's two pushes to one user's. Signing was about a sixth of a push's CPU.

    A reused token has at least half its minute left when it is sent. The kept URLs are
    bounded; the oldest signed goes first."""

    LIFETIME_SECONDS = 60
    REUSE_SECONDS = 30
    MAX_URLS = 4096

    def __init__(self, access_key: str) -> None:
        self._key = access_key
        self._tokens: dict[str, tuple[str, float]] = {}

    def on_request(self, request: PipelineRequest[Any]) -> None:
        url = request.http_request.url
        now = time.monotonic()
        kept = self._tokens.get(url)
        if kept is None or kept[1] <= now:
            self._tokens.pop(url, None)
            if len(self._tokens) >= self.MAX_URLS:
                del self._tokens[next(iter(self._tokens))]
            claims = {"aud": url, "exp": int(time.time()) + self.LIFETIME_SECONDS}
            kept = self._tokens[url] = (jwt.encode(claims, self._key, algorithm="HS256"), now + self.REUSE_SECONDS)
        request.http_request.headers["Authorization"] = "Bearer " + kept[0]


# Every event of a connection carries the same connection id and signature, so the HMACs
# are worked out once per connection while it is active (a vote burst sends thousands a
# second), not once per event. The answer depends only on the three inputs.
@functools.lru_cache(maxsize=16384)
def _signed_by_one_of(access_keys: tuple[str, ...], connection_id: str, signature_header: str) -> bool:
    """Compared as bytes: `compare_digest` raises on non-ASCII text, and a header is
    whatever the caller sent."""
    offered = {s.strip().encode("utf-8", "surrogateescape") for s in signature_header.split(",") if s.strip()}
    message = connection_id.encode("utf-8", "surrogateescape")
    for key in access_keys:
        expected = f"sha256={hmac.new(key.encode(), message, hashlib.sha256).hexdigest()}".encode()
        if any(hmac.compare_digest(expected, o) for o in offered):
            return True
    return False
