"""Bearer tokens: only a correctly signed, current token for our audience and issuer passes."""

from __future__ import annotations

import logging
import time
import uuid

import jwt
import pytest

from shared_code.auth import Account, TokenVerifier, bearer_token, issue_dev_token, require_role
from shared_code.errors import Forbidden, Unauthorized
from shared_code.settings import Settings

SECRET = "unit-test-secret-that-is-long-enough-for-hs256"


@pytest.fixture
def settings() -> Settings:
    return Settings(JWT_DEV_SECRET=SECRET, JWT_ISSUER="https://issuer.test", JWT_AUDIENCE="lectern-api")


def _token(**overrides) -> str:
    claims = {
        "sub": str(uuid.uuid4()),
        "name": "Ada",
        "roles": ["student"],
        "iss": "https://issuer.test",
        "aud": "lectern-api",
        "exp": int(time.time()) + 600,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, SECRET, algorithm="HS256")


async def test_a_dev_token_round_trips_to_the_same_principal(settings):
    user_id = str(uuid.uuid4())
    token, exp = issue_dev_token(settings, user_id=user_id, name="Tutor Tim", roles=["tutor", "student"])
    principal = await TokenVerifier(settings).verify(token)
    assert principal.user_id == user_id
    assert principal.name == "Tutor Tim"
    assert principal.roles == {"tutor", "student"}
    assert exp > time.time()


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"aud": "someone-else"}, "audience"),
        ({"iss": "https://evil.test"}, "issuer"),
        ({"sub": "not-a-uuid"}, "sub"),
        ({"exp": None}, "exp"),
    ],
)
async def test_tokens_with_bad_claims_are_refused_with_a_reason(settings, overrides, needle):
    with pytest.raises(Unauthorized) as err:
        await TokenVerifier(settings).verify(_token(**overrides))
    assert needle in str(err.value.detail)


async def test_a_forged_signature_is_refused(settings):
    forged = jwt.encode(
        {"sub": str(uuid.uuid4()), "iss": "https://issuer.test", "aud": "lectern-api", "exp": int(time.time()) + 60},
        "another-secret-of-sufficient-length-0123456789",
        algorithm="HS256",
    )
    with pytest.raises(Unauthorized):
        await TokenVerifier(settings).verify(forged)


async def test_an_unsigned_token_is_refused(settings):
    unsigned = jwt.encode(
        {"sub": str(uuid.uuid4()), "iss": "https://issuer.test", "aud": "lectern-api", "exp": int(time.time()) + 60},
        None,
        algorithm="none",
    )
    with pytest.raises(Unauthorized):
        await TokenVerifier(settings).verify(unsigned)


async def test_garbage_is_refused(settings):
    with pytest.raises(Unauthorized):
        await TokenVerifier(settings).verify("not.a.jwt")


async def test_unknown_roles_are_dropped(settings):
    principal = await TokenVerifier(settings).verify(_token(roles=["student", "superuser"]))
    assert principal.roles == {"student"}


def test_bearer_header_is_required():
    with pytest.raises(Unauthorized):
        bearer_token({})
    with pytest.raises(Unauthorized):
        bearer_token({"authorization": "Basic abc"})
    assert bearer_token({"authorization": "Bearer  abc "}) == "abc"


async def test_wrong_role_is_forbidden(settings):
    principal = await TokenVerifier(settings).verify(_token(roles=["student"]))
    with pytest.raises(Forbidden):
        require_role(principal, ["tutor", "admin"])
    require_role(principal, ["student"])


def _account(principal, *roles: str) -> Account:
    return Account(user_id=principal.user_id, name="Stored", roles=frozenset(roles))


async def test_a_token_claiming_more_than_the_stored_roles_gets_only_the_stored_ones(settings):
    claimed = await TokenVerifier(settings).verify(_token(roles=["student", "tutor", "admin"]))
    assert claimed.narrowed_to(_account(claimed, "student")).roles == {"student"}


async def test_a_token_claiming_less_than_the_stored_roles_narrows_them(settings):
    claimed = await TokenVerifier(settings).verify(_token(roles=["student"]))
    assert claimed.narrowed_to(_account(claimed, "student", "tutor")).roles == {"student"}


async def test_a_token_without_a_roles_claim_narrows_nothing(settings):
    claimed = await TokenVerifier(settings).verify(_token(roles=None))
    assert not claimed.roles_claimed
    assert claimed.narrowed_to(_account(claimed, "tutor")).roles == {"tutor"}
    empty = await TokenVerifier(settings).verify(_token(roles=[]))
    assert empty.narrowed_to(_account(empty, "tutor")).roles == frozenset()


async def test_a_roles_claim_of_the_wrong_shape_grants_nothing(settings):
    for odd in ({"admin": True}, 7, [["admin"]], [{"role": "admin"}]):
        claimed = await TokenVerifier(settings).verify(_token(roles=odd))
        assert claimed.narrowed_to(_account(claimed, "admin")).roles == frozenset(), odd


async def test_outside_development_a_development_secret_signs_nothing():
    production = Settings(LECTERN_ENV="production", JWT_DEV_SECRET=SECRET, JWT_ISSUER="https://issuer.test",
                          JWT_AUDIENCE="lectern-api")
    with pytest.raises(Unauthorized):
        await TokenVerifier(production).verify(_token())


def test_outside_development_unsafe_token_settings_are_named():
    problems = Settings(LECTERN_ENV="production", JWT_DEV_SECRET=SECRET, JWT_JWKS_URL="").unsafe_outside_development()
    assert any("JWT_DEV_SECRET" in p for p in problems) and any("JWT_JWKS_URL" in p for p in problems)
    assert Settings(LECTERN_ENV="production", JWT_DEV_SECRET="", JWT_JWKS_URL="https://x.test/keys").unsafe_outside_development() == []
    assert Settings(LECTERN_ENV="test", JWT_DEV_SECRET=SECRET, JWT_JWKS_URL="").unsafe_outside_development() == []


def test_secrets_in_the_settings_never_print():
    """A settings object in a log line or a traceback must not carry a key someone could use."""
    secrets = {
        "JWT_DEV_SECRET": "jwt-secret-jwt-secret-jwt-secret-0001",
        "VIDEO_SIGNING_KEY": "video-key-video-key-video-key-0002",
        "STRIPE_SECRET_KEY": "sk_test_stripe-key-0003",
        "PAYMENT_WEBHOOK_SECRETS": "whsec_one-0004,whsec_two-0005",
        "RAZORPAY_KEY_SECRET": "razorpay-secret-0006",
        "RAZORPAY_WEBHOOK_SECRETS": "razorpay-hook-0007",
        "LECTERN_CONNECTION_STATE_KEY": "state-key-0008",
        "WebPubSubConnectionString": "Endpoint=http://127.0.0.1;AccessKey=pubsub-key-0009;Version=1.0;",
        "AzureWebJobsStorage": "DefaultEndpointsProtocol=https;AccountName=st;AccountKey=storage-key-0010",
        "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=insights-key-0011",
    }
    s = Settings(**secrets)
    shown = repr(s) + str(s) + s.model_dump_json()
    for value in secrets.values():
        for part in value.split(","):
            assert part not in shown
    assert s.payment_secrets == ["whsec_one-0004", "whsec_two-0005"]
    assert s.connection_state_signing_key == b"state-key-0008"


def test_store_urls_with_their_passwords_never_print():
    """POSTGRES_URL and REDIS_URL carry a password wherever the stores take one: a repr, a log
    line or a dump of the settings shows neither URL, and the adapters still get them whole."""
    urls = {
        "POSTGRES_URL": "postgresql://lectern:pg-password-0012@db.example.test:5432/lectern",
        "REDIS_URL": "rediss://:redis-password-0013@cache.example.test:6380/0",
    }
    s = Settings(**urls)
    log_line = logging.Formatter().format(logging.LogRecord("t", logging.INFO, __file__, 1, "settings %s %r", (s, s), None))
    shown = repr(s) + str(s) + s.model_dump_json() + log_line
    for value in urls.values():
        assert value not in shown
    assert "pg-password-0012" not in shown and "redis-password-0013" not in shown
    assert s.postgres_url.get_secret_value() == urls["POSTGRES_URL"]
    assert s.redis_url.get_secret_value() == urls["REDIS_URL"]
