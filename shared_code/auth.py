"""Bearer-token authentication and role checks.

Locally tokens are HS256, signed with the development secret by `POST /api/dev/token`.
In Azure they come from an OpenID issuer and are checked against its JWKS. Either way the
signature, `exp`, `iss` and `aud` are verified before a claim is believed.

A token says who the caller is; it does not decide what they may do. The roles an admin
stored in the users table do (`Account`), and a token's `roles` claim may only narrow them
(`Principal.narrowed_to`): a tutor demoted by an admin stops being a tutor at once, not
when their token expires, and a token claiming roles the account lacks gains nothing.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt
from jwt import PyJWKClient

from shared_code.errors import Forbidden, Unauthorized
from shared_code.settings import Settings

ROLES = ("student", "tutor", "admin")
_LEEWAY_SECONDS = 30
_VERIFIED_MAX = 10_000


@dataclass(frozen=True)
class Account:
    """A user as the users table knows them: the roles admins manage are the ones that count."""

    user_id: str
    name: str
    roles: frozenset[str]
    # Erased on the user's request (`services/privacy`): the row stays, its tokens are refused.
    erased: bool = False


@dataclass(frozen=True)
class Principal:
    """Who is calling. Straight from a token it holds the token's claims; every handler
    gets it from `authenticate`, after `narrowed_to` the caller's stored account."""

    user_id: str
    name: str
    roles: frozenset[str]
    # False when the token carried no `roles` claim at all: such a token narrows nothing
    # and the stored roles apply as they are (issuers that leave roles to the app).
    roles_claimed: bool = True

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def narrowed_to(self, account: Account) -> Principal:
        """The caller with the roles both the account and the token grant: the stored roles
        decide, the token may only give some of them up."""
        roles = account.roles & self.roles if self.roles_claimed else account.roles
        return Principal(user_id=self.user_id, name=self.name or account.name, roles=frozenset(roles))

    @classmethod
    def of_account(cls, account: Account) -> Principal:
        """The stored user acting without a token of ours (a live connection's events)."""
        return cls(user_id=account.user_id, name=account.name, roles=account.roles)


class TokenVerifier:
    """Verifies bearer tokens; built once per process because the JWKS client caches keys."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._jwks = PyJWKClient(settings.jwt_jwks_url, cache_keys=True) if settings.jwt_jwks_url else None
        # Tokens already verified, by their exact text: the same bytes always verify the
        # same way, so a repeat costs a lookup instead of a signature check on every hot
        # path. Only time can change the answer, so the expiry is checked on every hit.
        self._verified: dict[str, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        hit = self._verified.get(token)
        if hit is not None:
            if time.time() < hit[1]:
                return hit[0]
            self._verified.pop(token, None)
        principal, expires = await self._verify(token)
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        s = self._settings
        try:
            if self._jwks is not None:
                signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
                key, algorithms = signing_key.key, ["RS256", "ES256"]
            else:
                # Outside development the app refuses to start without a JWKS URL; this
                # keeps a development secret from ever being trusted there all the same.
                dev_secret = s.jwt_dev_secret.get_secret_value()
                if not dev_secret or not s.is_development:
                    raise Unauthorized("No token issuer is configured.")
                key, algorithms = dev_secret, ["HS256"]
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=s.jwt_audience,
                issuer=s.jwt_issuer,
                leeway=_LEEWAY_SECONDS,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The bearer token has expired.") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized("The bearer token was issued for another audience.") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("The bearer token was issued by an unknown issuer.") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"The bearer token lacks the '{exc.claim}' claim.") from None
        except (jwt.PyJWTError, ValueError):
            raise Unauthorized("The bearer token is malformed or its signature is invalid.") from None
        return principal_from_claims(claims), float(claims["exp"]) + _LEEWAY_SECONDS


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    sub = str(claims.get("sub", ""))
    try:
        user_id = str(uuid.UUID(sub))
    except ValueError:
        raise Unauthorized("The token's 'sub' claim is not a user id.") from None
    claimed = "roles" in claims
    raw_roles = claims.get("roles") or []
    if isinstance(raw_roles, str):
        raw_roles = [raw_roles]
    if not isinstance(raw_roles, list):
        raw_roles = []
    roles = frozenset(r for r in raw_roles if isinstance(r, str) and r in ROLES)
    return Principal(user_id=user_id, name=str(claims.get("name") or "")[:200], roles=roles, roles_claimed=claimed)


def bearer_token(headers: object) -> str:
    """The token from an `Authorization: Bearer` header, or 401."""
    value = headers.get("authorization") or ""  # type: ignore[attr-defined]
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send 'Authorization: Bearer <token>'.")
    return token.strip()


def require_role(principal: Principal, roles: Iterable[str]) -> None:
    wanted = tuple(roles)
    if wanted and not principal.has_role(*wanted):
        raise Forbidden(f"This action needs one of the roles: {', '.join(wanted)}.")


def issue_dev_token(
    settings: Settings, *, user_id: str, name: str, roles: Iterable[str]
) -> tuple[str, int]:
    """A token signed by the development issuer; only reachable in development mode."""
    now = int(time.time())
    exp = now + settings.jwt_dev_token_minutes * 60
    claims = {
        "sub": user_id,
        "name": name,
        "roles": sorted(set(roles)),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": exp,
    }
    return jwt.encode(claims, settings.jwt_dev_secret.get_secret_value(), algorithm="HS256"), exp
