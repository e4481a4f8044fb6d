"""Access tokens: the JWTs clients connect with and the JWTs the server SDK signs for REST.

Both are HS256 with the access key string as the secret, exactly as the SDKs sign them. The
audience ties a token to one place: the client URL of a hub for clients, the request URL
for REST calls.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import jwt
from jwt.algorithms import HMACAlgorithm

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


class TokenError(Exception):
    """The token is missing, malformed, badly signed, expired or meant for somewhere else."""


def accepted_hosts(configured_host: str) -> frozenset[str]:
    """Host spellings a token's audience may use for this service.

    The SDK lowercases the endpoint before building a client audience, and a developer may
    write 127.0.0.1 where the service was told localhost (or the reverse); both name the same
    loopback service.
    """
    host = configured_host.lower()
    if host in LOOPBACK_HOSTS or host in WILDCARD_HOSTS:
        return LOOPBACK_HOSTS | {host}
    return frozenset({host})


class _PreparedHS256(HMACAlgorithm):
    """HS256 that prepares each key once. PyJWT checks the key for PEM and SSH forms on every
    token it verifies, and in a connect storm that check was most of the cost of one; the
    service has one access key (two while it rotates), so the prepared form is kept."""

    def __init__(self) -> None:
        super().__init__(HMACAlgorithm.SHA256)
        self._prepared: dict[str | bytes, bytes] = {}

    def prepare_key(self, key: str | bytes) -> bytes:
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = super().prepare_key(key)
            if len(self._prepared) < 4:
                self._prepared[key] = prepared
        return prepared


class _Verifier(jwt.PyJWT):
    """PyJWT's claim checks over a signature layer that knows only the prepared HS256."""

    def __init__(self) -> None:
        super().__init__()
        signatures = jwt.PyJWS(algorithms=[], options=self._jws.options)
        signatures.register_algorithm("HS256", _PreparedHS256())
        self._jws = signatures


_VERIFIER = _Verifier()


def decode(token: str, access_key: str) -> dict[str, Any]:
    """The claims of a token signed with the access key, or TokenError."""
    try:
        return _VERIFIER.decode(
            token,
            access_key,
            algorithms=["HS256"],
            options={"require": ["exp"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("The access token has expired.") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"The access token is invalid: {exc}.") from exc


def _audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list):
        return [a for a in aud if isinstance(a, str)]
    return []


def _same_origin(url: str, hosts: frozenset[str], port: int) -> bool:
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"}:
        return False
    try:
        aud_port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        return False
    return (parts.hostname or "").lower() in hosts and aud_port == port


def check_client_audience(claims: dict[str, Any], hub: str, hosts: frozenset[str], port: int) -> None:
    """The audience must be this service's client URL of `hub`."""
    expected_path = f"/client/hubs/{hub}"
    for aud in _audiences(claims):
        if _same_origin(aud, hosts, port) and unquote(urlsplit(aud).path).rstrip("/") == expected_path:
            return
    raise TokenError(f"The access token's audience is not this service's client URL of hub '{hub}'.")


def _query_pairs(query: str) -> list[tuple[str, str]]:
    return sorted(parse_qsl(query, keep_blank_values=True))


def check_request_audience(
    claims: dict[str, Any], raw_path: str, raw_query: str, hosts: frozenset[str], port: int
) -> None:
    """The audience must be the URL of this very request.

    Path and query are compared decoded (and the query as a multiset of pairs), because HTTP
    stacks between the SDK and the service may re-quote characters without changing meaning.
    """
    path = unquote(raw_path)
    query = _query_pairs(raw_query)
    for aud in _audiences(claims):
        parts = urlsplit(aud)
        if _same_origin(aud, hosts, port) and unquote(parts.path) == path and _query_pairs(parts.query) == query:
            return
    raise TokenError("The access token's audience is not the URL of this request.")


def string_list(value: Any) -> list[str]:
    """A claim that may hold one string or several, as a list of strings."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def issue_client_token(
    access_key: str,
    audience: str,
    *,
    user_id: str | None = None,
    roles: Iterable[str] = (),
    groups: Iterable[str] = (),
    minutes_to_expire: int = 60,
) -> str:
    """A client token with the claims the service itself puts in generated tokens."""
    now = datetime.now(tz=UTC)
    payload: dict[str, Any] = {"aud": audience, "iat": now, "exp": now + timedelta(minutes=minutes_to_expire)}
    if user_id:
        payload["sub"] = user_id
    roles = list(roles)
    if roles:
        payload["role"] = roles
    groups = list(groups)
    if groups:
        payload["webpubsub.group"] = groups
    return jwt.encode(payload, access_key, algorithm="HS256")


def connection_signature(access_key: str, connection_id: str) -> str:
    """The `ce-signature` entry an upstream checks: sha256=<hex HMAC of the connection id>."""
    digest = hmac.new(access_key.encode("utf-8"), connection_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"sha256={digest}"
