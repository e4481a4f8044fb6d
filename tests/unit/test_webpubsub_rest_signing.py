"""The REST calls to Web PubSub are signed with the access key for their own URL, as the
SDK's key policy signs them, but once per URL for a while rather than once per call: the
service must still find every token valid for the call it arrives with."""

from __future__ import annotations

import time

import jwt
import pytest
from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.pipeline.policies import AsyncRetryPolicy, RequestIdPolicy
from azure.core.rest import HttpRequest

from shared_code.adapters.webpubsub import PubSub, SignedPerUrl
from shared_code.settings import Settings

pytestmark = pytest.mark.unit

KEY = "local-access-key-local-access-key-0123456789"
GROUP_SEND = "http://127.0.0.1:8080/api/hubs/live/groups/class-1/:send?api-version=2024-12-01"
USER_SEND = "http://127.0.0.1:8080/api/hubs/live/users/ada/:send?api-version=2024-12-01"


def signed(policy: SignedPerUrl, url: str) -> str:
    request = PipelineRequest(HttpRequest("POST", url), PipelineContext(None))
    policy.on_request(request)
    scheme, _, token = request.http_request.headers["Authorization"].partition(" ")
    assert scheme == "Bearer"
    return token


def test_a_call_carries_a_token_for_its_own_url_that_the_key_verifies() -> None:
    token = signed(SignedPerUrl(KEY), USER_SEND)
    claims = jwt.decode(token, KEY, algorithms=["HS256"], audience=USER_SEND)
    assert 50 <= claims["exp"] - time.time() <= 60


def test_calls_to_one_url_share_a_token_and_other_urls_get_their_own() -> None:
    policy = SignedPerUrl(KEY)
    first = signed(policy, GROUP_SEND)
    assert signed(policy, GROUP_SEND) == first
    other = signed(policy, USER_SEND)
    assert other != first
    assert jwt.decode(other, KEY, algorithms=["HS256"], audience=USER_SEND)


def test_a_kept_token_is_signed_again_once_it_is_half_spent() -> None:
    policy = SignedPerUrl(KEY)
    policy.REUSE_SECONDS = 0  # every kept token is already due
    first = signed(policy, GROUP_SEND)
    time.sleep(1.01)  # a new expiry second, so a new signature
    assert signed(policy, GROUP_SEND) != first


def test_the_kept_urls_are_bounded_and_the_oldest_goes_first() -> None:
    policy = SignedPerUrl(KEY)
    policy.MAX_URLS = 3
    urls = [f"http://127.0.0.1:8080/api/hubs/live/users/u{n}/:send?api-version=2024-12-01" for n in range(5)]
    tokens = [signed(policy, url) for url in urls]
    assert len(policy._tokens) == 3
    assert list(policy._tokens) == urls[2:]
    assert signed(policy, urls[4]) == tokens[4]


def test_the_client_skips_the_policies_the_app_does_not_use() -> None:
    """No client request id and no retry policy on a client that never retries (the outbox
    does): each ran on every push."""
    settings = Settings(
        LECTERN_ENV="development",
        WebPubSubConnectionString=f"Endpoint=http://127.0.0.1:8080;AccessKey={KEY};Version=1.0;",
        WEBPUBSUB_HUB="live",
    )
    pipeline = PubSub(settings).client._client._pipeline
    kinds = [type(getattr(p, "_policy", p)) for p in pipeline._impl_policies]
    assert SignedPerUrl in kinds
    assert not any(issubclass(k, (RequestIdPolicy, AsyncRetryPolicy)) for k in kinds)
