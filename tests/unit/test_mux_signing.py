"""Playback URLs signed the way Mux verifies them (RS256, `kid`, `sub`, `aud`, `exp`), and
the CDN stand-in (`verify_playback_url`) checking exactly those tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from shared_code.adapters import mux_signing
from shared_code.services.content.playback import PlaybackRefused, sign_playback_url, verify_playback_url

BASE = "https://stream.example-cdn.test"
KEY_ID = "mux-signing-key-id-0001"
EXPIRES = datetime(2031, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def key() -> str:
    return mux_signing.generate_development_key()


@pytest.fixture(scope="module")
def other_key() -> str:
    return mux_signing.generate_development_key()


def _url(key: str, **overrides: object) -> str:
    args = {"base_url": BASE, "signing_key": key, "asset_id": "pb_123", "viewer_id": "student-1",
            "expires_at": EXPIRES, "key_id": KEY_ID, "allow_shared_secret": False}
    return sign_playback_url(**{**args, **overrides})


def _token(url: str) -> str:
    return url.split("?token=", 1)[1]


def test_playback_url_is_an_rs256_jwt_naming_its_key_as_mux_verifies_it(key: str) -> None:
    url = _url(key)
    assert url.startswith(f"{BASE}/pb_123.m3u8?token=")
    token = _token(url)
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": KEY_ID, "typ": "JWT"}
    # What Mux does with the public half of the key the header names.
    public = mux_signing.private_key(key).public_key()
    claims = jwt.decode(token, public, algorithms=["RS256"], audience="v", options={"verify_exp": False})
    assert claims["sub"] == "pb_123" and claims["aud"] == "v" and claims["exp"] == int(EXPIRES.timestamp())


def test_cdn_stand_in_accepts_the_url_until_it_expires(key: str) -> None:
    grant = verify_playback_url(_url(key), signing_key=key, key_id=KEY_ID, base_url=BASE, now=EXPIRES.timestamp() - 1)
    assert (grant.asset_id, grant.viewer_id, grant.expires_at) == ("pb_123", "student-1", EXPIRES)
    with pytest.raises(PlaybackRefused, match="expired"):
        verify_playback_url(_url(key), signing_key=key, key_id=KEY_ID, base_url=BASE, now=EXPIRES.timestamp())


def test_cdn_refuses_a_token_for_another_key_id_or_key_pair(key: str, other_key: str) -> None:
    with pytest.raises(PlaybackRefused, match="no signing key"):
        verify_playback_url(_url(key, key_id="revoked-key"), signing_key=key, key_id=KEY_ID, base_url=BASE, now=0)
    with pytest.raises(PlaybackRefused, match="not valid"):
        verify_playback_url(_url(other_key), signing_key=key, key_id=KEY_ID, base_url=BASE, now=0)


def test_cdn_refuses_a_url_moved_to_another_playback_id(key: str) -> None:
    moved = _url(key).replace("/pb_123.m3u8", "/pb_999.m3u8")
    with pytest.raises(PlaybackRefused, match="another playback id"):
        verify_playback_url(moved, signing_key=key, key_id=KEY_ID, base_url=BASE, now=0)


def test_cdn_refuses_an_hs256_token_made_with_the_public_key_as_secret(key: str) -> None:
    """The classic algorithm confusion: the public key is no secret, so an HMAC over it
    proves nothing."""
    public_pem = mux_signing.private_key(key).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = _b64(b'{"alg":"HS256","kid":"' + KEY_ID.encode() + b'","typ":"JWT"}')
    body = _token(_url(key)).split(".")[1]
    signature = _b64(hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest())
    with pytest.raises(PlaybackRefused, match="not RS256"):
        verify_playback_url(f"{BASE}/pb_123.m3u8?token={header}.{body}.{signature}", signing_key=key, key_id=KEY_ID, base_url=BASE, now=0)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_thumbnail_tokens_carry_audience_t_and_do_not_play_video(key: str) -> None:
    token = mux_signing.sign_token(key_id=KEY_ID, private_key_value=key, playback_id="pb_123", expires_at=EXPIRES, audience="t")
    keys = mux_signing.public_keys_for(KEY_ID, key)
    assert mux_signing.verify_token(token, public_keys=keys, playback_id="pb_123", audience="t", now=0)["aud"] == "t"
    with pytest.raises(mux_signing.TokenRefused):
        mux_signing.verify_token(token, public_keys=keys, playback_id="pb_123", audience="v", now=0)


def test_the_key_is_read_as_mux_hands_it_out_or_as_plain_pem(key: str) -> None:
    pem = base64.b64decode(key).decode()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert mux_signing.is_signing_key(key) and mux_signing.is_signing_key(pem)
    assert not mux_signing.is_signing_key("local-development-only-video-signing-key")


def test_outside_development_a_shared_secret_signs_nothing_and_a_key_without_its_id_neither(key: str) -> None:
    with pytest.raises(ValueError):
        _url("a-shared-secret-long-enough-for-hs256-signing-0001", allow_shared_secret=False)
    with pytest.raises(ValueError, match="VIDEO_SIGNING_KEY_ID"):
        _url(key, key_id="")
