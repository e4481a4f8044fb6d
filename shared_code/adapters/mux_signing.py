"""Signed playback tokens the way Mux verifies them: RS256 JWTs.

A Mux URL signing key is a key pair: Mux keeps the public half and hands out its id and the
private half once, base64-encoded PEM. A token's header names the key (`kid`); its claims
are `sub` (the playback id), `aud` (`v` video, `t` thumbnail, `g` gif, `s` storyboard) and
`exp`. Extra claims are allowed (the app adds `vid`, the viewer). Mux refuses anything else,
HS256 tokens included.

The private key comes from VIDEO_SIGNING_KEY (Key Vault in Azure) and its id from
VIDEO_SIGNING_KEY_ID. `verify_token` is what the CDN edge does with the public key; the
local stand-in and the tests run it to check exactly the tokens the app hands out.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from functools import lru_cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ALGORITHM = "RS256"
AUDIENCES = {"video": "v", "thumbnail": "t", "gif": "g", "storyboard": "s"}
# Mux issues 2048-bit keys; a shorter RSA key is not one of theirs.
MIN_RSA_BITS = 2048


class TokenRefused(Exception):
    """The token is not one this key pair signed, for this playback id and audience."""


def _pem(value: str) -> bytes:
    """The PEM text of a key given as PEM or, as Mux hands it out, base64 of the PEM."""
    text = value.strip()
    if text.startswith("-----BEGIN"):
        return text.encode()
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return b""
    return decoded if decoded.lstrip().startswith(b"-----BEGIN") else b""


@lru_cache(maxsize=4)
def private_key(value: str) -> rsa.RSAPrivateKey | None:
    """The RSA private key in the setting, or None when it holds none (parsed once)."""
    pem = _pem(value)
    if not pem:
        return None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        return None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_RSA_BITS:
        return None
    return key


def is_signing_key(value: str) -> bool:
    return private_key(value) is not None


def sign_token(
    *, key_id: str, private_key_value: str, playback_id: str, expires_at: datetime, audience: str = "v",
    claims: dict[str, Any] | None = None,
) -> str:
    key = private_key(private_key_value)
    if key is None:
        raise ValueError("VIDEO_SIGNING_KEY is not an RSA private key (PEM, or base64 of the PEM as Mux gives it)")
    if not key_id:
        raise ValueError("VIDEO_SIGNING_KEY_ID (the Mux signing key id) is missing")
    if audience not in AUDIENCES.values():
        raise ValueError(f"audience must be one of {sorted(AUDIENCES.values())}")
    payload = {**(claims or {}), "sub": playback_id, "aud": audience, "exp": int(expires_at.timestamp())}
    return jwt.encode(payload, key, algorithm=ALGORITHM, headers={"kid": key_id})


def verify_token(
    token: str, *, public_keys: dict[str, rsa.RSAPublicKey], playback_id: str, audience: str = "v", now: float,
) -> dict[str, Any]:
    """The claims of a token the holder of `public_keys` (kid to key) accepts for this
    playback id and audience at `now`; TokenRefused otherwise."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenRefused(f"the token is not a JWT: {exc}") from None
    if header.get("alg") != ALGORITHM:
        raise TokenRefused(f"the token is signed with {header.get('alg')!r}, not {ALGORITHM}")
    key = public_keys.get(str(header.get("kid", "")))
    if key is None:
        raise TokenRefused("the token names no signing key this CDN knows")
    try:
        claims = jwt.decode(
            token, key, algorithms=[ALGORITHM], audience=audience,
            options={"require": ["sub", "aud", "exp"], "verify_exp": False},
        )
    except jwt.PyJWTError as exc:
        raise TokenRefused(f"the token is not valid: {exc}") from None
    if int(claims["exp"]) <= now:
        raise TokenRefused("the URL has expired")
    if claims["sub"] != playback_id:
        raise TokenRefused("the token was issued for another playback id")
    return claims


def public_keys_for(key_id: str, private_key_value: str) -> dict[str, rsa.RSAPublicKey]:
    """What the CDN holds for the app's signing key: its id and public half."""
    key = private_key(private_key_value)
    return {key_id: key.public_key()} if key is not None and key_id else {}


def generate_development_key() -> str:
    """A fresh key pair for a development stack, base64 PEM like Mux's; never a fixed key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return base64.b64encode(pem).decode()
