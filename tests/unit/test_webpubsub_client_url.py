"""Client URLs signed with the access key: the app signs them itself, and they must be the
tokens the SDK would have signed (same audience, subject, roles, groups, expiry), or the
service would refuse every student."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from shared_code.adapters.webpubsub import PubSub
from shared_code.settings import Settings

pytestmark = pytest.mark.unit

KEY = "local-access-key-local-access-key-0123456789"


def _pubsub(endpoint: str) -> PubSub:
    settings = Settings(
        LECTERN_ENV="development", WebPubSubConnectionString=f"Endpoint={endpoint};AccessKey={KEY};Version=1.0;",
        WEBPUBSUB_HUB="live",
    )
    return PubSub(settings)


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1;Port=8182", "https://Contoso.webpubsub.azure.com/"])
async def test_a_locally_signed_client_url_is_the_one_the_sdk_signs(endpoint):
    pubsub = _pubsub(endpoint)
    try:
        url, expires_at = await pubsub.client_url(user_id="u-1", groups=["g"], roles=["r"], minutes=30)
        theirs = await pubsub.client.get_client_access_token(user_id="u-1", groups=["g"], roles=["r"], minutes_to_expire=30)
    finally:
        await pubsub.close()
    assert url.split("?")[0] == theirs["baseUrl"]
    mine = jwt.decode(parse_qs(urlsplit(url).query)["access_token"][0], KEY, algorithms=["HS256"],
                      audience=jwt.decode(theirs["token"], options={"verify_signature": False})["aud"])
    sdk = jwt.decode(theirs["token"], KEY, algorithms=["HS256"], audience=mine["aud"])
    assert {k: v for k, v in mine.items() if k not in ("iat", "exp")} == {
        k: v for k, v in sdk.items() if k not in ("iat", "exp")
    }
    assert abs(mine["exp"] - sdk["exp"]) <= 2
    assert abs(expires_at.timestamp() - mine["exp"]) <= 1 and expires_at > datetime.now(UTC)


def _signature(key: str, connection_id: str) -> str:
    return "sha256=" + hmac.new(key.encode(), connection_id.encode(), hashlib.sha256).hexdigest()


async def test_an_upstream_signature_already_accepted_for_one_connection_is_refused_for_another():
    """Accepted signatures are remembered per connection; a replay of one connection's
    signature on another connection id, or one made with another key, is still refused."""
    pubsub = _pubsub("http://127.0.0.1;Port=8182")
    other = _pubsub("http://127.0.0.1;Port=8182")
    other._access_keys = ["another-access-key-another-access-key-0123"]
    try:
        good = _signature(KEY, "conn-1")
        for _ in range(2):
            assert pubsub.signature_valid("conn-1", good)
            assert pubsub.signature_valid("conn-1", f"sha256=00, {good}")
        assert not pubsub.signature_valid("conn-2", good)
        assert not other.signature_valid("conn-1", good)
        assert not pubsub.signature_valid("conn-1", _signature("not-the-key", "conn-1"))
        assert not pubsub.signature_valid("conn-1", "sha256=é")
        assert pubsub.signature_valid("conn-1", good)
    finally:
        await pubsub.close()
        await other.close()
