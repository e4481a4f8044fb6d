"""Token checks: signature, expiry and the audience rules for clients and REST (pure logic)."""

from __future__ import annotations

import hashlib
import hmac
import time

import jwt
import pytest

from localpubsub import tokens

pytestmark = pytest.mark.unit

KEY = "dGVzdC1rZXktZm9yLXRva2Vucy10aGF0LWlzLWxvbmctZW5vdWdo"
HOSTS = tokens.accepted_hosts("127.0.0.1")


def sign(claims: dict, key: str = KEY) -> str:
    return jwt.encode(claims, key, algorithm="HS256")


def test_loopback_spellings_are_the_same_host_but_others_are_not() -> None:
    assert {"127.0.0.1", "localhost"} <= HOSTS
    assert tokens.accepted_hosts("pubsub.example.test") == frozenset({"pubsub.example.test"})
    assert "localhost" in tokens.accepted_hosts("0.0.0.0")


def test_decode_refuses_expired_wrongly_signed_and_exp_less_tokens() -> None:
    future = int(time.time()) + 60
    assert tokens.decode(sign({"exp": future, "sub": "u"}), KEY)["sub"] == "u"
    for token in (
        sign({"exp": int(time.time()) - 1}),
        sign({"exp": future}, key=KEY[::-1]),
        sign({"sub": "no-exp"}),
        "not.a.jwt",
    ):
        with pytest.raises(tokens.TokenError):
            tokens.decode(token, KEY)


def test_each_token_is_checked_against_the_key_it_is_given_and_only_as_hs256() -> None:
    """Keys are prepared once and kept: a kept key must never stand in for another (the
    primary and the secondary key while they rotate)."""
    future = int(time.time()) + 60
    other = KEY[::-1]
    first, second = sign({"exp": future, "sub": "a"}), sign({"exp": future, "sub": "b"}, key=other)
    for _ in range(2):
        assert tokens.decode(first, KEY)["sub"] == "a"
        assert tokens.decode(second, other)["sub"] == "b"
        for token, key in ((first, other), (second, KEY)):
            with pytest.raises(tokens.TokenError):
                tokens.decode(token, key)
    for algorithm in ("HS384", "HS512"):
        with pytest.raises(tokens.TokenError, match="alg"):
            tokens.decode(jwt.encode({"exp": future}, KEY * 2, algorithm=algorithm), KEY * 2)
    with pytest.raises(tokens.TokenError):
        tokens.decode(jwt.encode({"exp": future}, None, algorithm="none"), KEY)


@pytest.mark.parametrize(
    "aud, ok",
    [
        ("http://127.0.0.1:8080/client/hubs/live", True),
        ("http://LOCALHOST:8080/client/hubs/live", True),
        ("http://localhost:8080/client/hubs/live/", True),
        (["http://x", "http://127.0.0.1:8080/client/hubs/live"], True),
        ("http://127.0.0.1:8081/client/hubs/live", False),
        ("http://127.0.0.1:8080/client/hubs/other", False),
        ("http://example.test:8080/client/hubs/live", False),
        ("ftp://127.0.0.1:8080/client/hubs/live", False),
        (None, False),
    ],
)
def test_client_audience(aud: object, ok: bool) -> None:
    claims = {"aud": aud} if aud is not None else {}
    if ok:
        tokens.check_client_audience(claims, "live", HOSTS, 8080)
    else:
        with pytest.raises(tokens.TokenError):
            tokens.check_client_audience(claims, "live", HOSTS, 8080)


def test_request_audience_compares_path_and_query_without_regard_to_quoting_or_order() -> None:
    aud = "http://127.0.0.1:8080/api/hubs/live/groups/a%20b/:send?excluded=x&excluded=y&api-version=2024-12-01"
    tokens.check_request_audience(
        {"aud": aud}, "/api/hubs/live/groups/a b/:send", "api-version=2024-12-01&excluded=x&excluded=y", HOSTS, 8080
    )
    for path, query in (
        ("/api/hubs/live/groups/a b/:send", "api-version=2024-12-01&excluded=x"),
        ("/api/hubs/live/groups/other/:send", "api-version=2024-12-01&excluded=x&excluded=y"),
    ):
        with pytest.raises(tokens.TokenError):
            tokens.check_request_audience({"aud": aud}, path, query, HOSTS, 8080)


def test_issued_client_tokens_carry_the_claims_the_sdk_puts_in_them() -> None:
    token = tokens.issue_client_token(
        KEY, "http://127.0.0.1:8080/client/hubs/live", user_id="u", roles=["r"], groups=["g"], minutes_to_expire=2
    )
    claims = tokens.decode(token, KEY)
    assert claims["sub"] == "u" and claims["role"] == ["r"] and claims["webpubsub.group"] == ["g"]
    assert 60 < claims["exp"] - time.time() <= 120
    tokens.check_client_audience(claims, "live", HOSTS, 8080)


def test_connection_signature_is_hex_hmac_of_the_connection_id() -> None:
    expected = "sha256=" + hmac.new(b"key", b"conn", hashlib.sha256).hexdigest()
    assert tokens.connection_signature("key", "conn") == expected
