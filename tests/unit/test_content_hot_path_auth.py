"""Token verification on the content hot path: a repeat is a lookup, but never past the expiry."""

from __future__ import annotations

import time

import pytest

from shared_code import auth
from shared_code.auth import TokenVerifier, issue_dev_token
from shared_code.errors import Unauthorized
from shared_code.settings import Settings

SETTINGS = Settings(environment="test", jwt_dev_secret="unit-test-secret-unit-test-secret-0001", jwt_jwks_url="")
USER = "11111111-2222-4333-8444-555555555555"


async def test_a_repeated_token_is_not_decoded_again(monkeypatch):
    verifier = TokenVerifier(SETTINGS)
    token, _ = issue_dev_token(SETTINGS, user_id=USER, name="s", roles=["student"])
    first = await verifier.verify(token)
    decodes = 0
    original = auth.jwt.decode

    def counting(*args, **kwargs):
        nonlocal decodes
        decodes += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(auth.jwt, "decode", counting)
    assert await verifier.verify(token) == first
    assert decodes == 0


async def test_a_remembered_token_still_expires(monkeypatch):
    verifier = TokenVerifier(SETTINGS)
    token, exp = issue_dev_token(SETTINGS, user_id=USER, name="s", roles=["student"])
    await verifier.verify(token)
    real_time = time.time
    # An hour past the expiry: the remembered answer no longer counts, and the token is
    # checked again (where PyJWT, on the same clock, finds it expired).
    monkeypatch.setattr(auth.time, "time", lambda: exp + 3600.0)

    def expired(*args, **kwargs):
        raise auth.jwt.ExpiredSignatureError("Signature has expired")

    monkeypatch.setattr(auth.jwt, "decode", expired)
    with pytest.raises(Unauthorized, match="expired"):
        await verifier.verify(token)
    monkeypatch.setattr(auth.time, "time", real_time)


async def test_a_token_differing_in_one_character_is_verified_afresh():
    verifier = TokenVerifier(SETTINGS)
    token, _ = issue_dev_token(SETTINGS, user_id=USER, name="s", roles=["student"])
    await verifier.verify(token)
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(Unauthorized):
        await verifier.verify(tampered)
