"""Signed playback URLs: what the CDN edge accepts and what it refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from shared_code.services.content.playback import PlaybackRefused, playback_expiry, sign_playback_url, verify_playback_url

KEY = "a-signing-key-of-enough-length-for-hs256"
BASE = "https://stream.example.test/v"
EXPIRES = datetime(2030, 1, 1, tzinfo=UTC)


def _url(**overrides) -> str:
    args = dict(base_url=BASE, signing_key=KEY, asset_id="asset_123", viewer_id="viewer-9", expires_at=EXPIRES)
    args.update(overrides)
    return sign_playback_url(**args)


def test_a_signed_url_verifies_and_carries_asset_viewer_and_expiry():
    url = _url()
    assert url.startswith(f"{BASE}/asset_123.m3u8?token=")
    grant = verify_playback_url(url, signing_key=KEY, base_url=BASE, now=EXPIRES.timestamp() - 1)
    assert (grant.asset_id, grant.viewer_id, grant.expires_at) == ("asset_123", "viewer-9", EXPIRES)


def test_the_url_stops_working_at_its_expiry():
    with pytest.raises(PlaybackRefused, match="expired"):
        verify_playback_url(_url(), signing_key=KEY, base_url=BASE, now=EXPIRES.timestamp())


def test_a_url_signed_with_another_key_is_refused():
    with pytest.raises(PlaybackRefused):
        verify_playback_url(_url(signing_key="another-signing-key-of-enough-length-too"), signing_key=KEY, base_url=BASE, now=0)


def test_a_token_cannot_be_moved_to_another_asset():
    token = _url().split("token=")[1]
    moved = f"{BASE}/other_asset.m3u8?token={token}"
    with pytest.raises(PlaybackRefused, match="another asset"):
        verify_playback_url(moved, signing_key=KEY, base_url=BASE, now=0)


def test_a_token_with_a_changed_claim_is_refused():
    header, payload, signature = _url().split("token=")[1].split(".")
    claims = jwt.decode(_url().split("token=")[1], options={"verify_signature": False})
    claims["exp"] += 3600
    forged_payload = jwt.encode(claims, "k" * 32, algorithm="HS256").split(".")[1]
    forged = f"{BASE}/asset_123.m3u8?token={header}.{forged_payload}.{signature}"
    with pytest.raises(PlaybackRefused):
        verify_playback_url(forged, signing_key=KEY, base_url=BASE, now=0)


def test_an_unsigned_token_is_refused():
    unsigned = jwt.encode({"sub": "asset_123", "aud": "v", "vid": "x", "exp": 2_000_000_000}, None, algorithm="none")
    with pytest.raises(PlaybackRefused):
        verify_playback_url(f"{BASE}/asset_123.m3u8?token={unsigned}", signing_key=KEY, base_url=BASE, now=0)


def test_a_url_on_another_host_is_refused():
    url = _url().replace("stream.example.test", "evil.example.test")
    with pytest.raises(PlaybackRefused, match="CDN"):
        verify_playback_url(url, signing_key=KEY, base_url=BASE, now=0)


def test_signing_refuses_a_missing_key_and_unsafe_asset_ids():
    with pytest.raises(ValueError):
        _url(signing_key="")
    with pytest.raises(ValueError):
        _url(signing_key="short-key")
    with pytest.raises(ValueError):
        _url(asset_id="../../etc")


def test_the_expiry_is_whole_seconds_in_the_future():
    now = datetime(2030, 1, 1, 0, 0, 0, 987654, tzinfo=UTC)
    assert playback_expiry(60, now=now) == datetime(2030, 1, 1, 1, 0, 0, tzinfo=UTC)
    assert playback_expiry(1, now=now) - now < timedelta(minutes=1)
