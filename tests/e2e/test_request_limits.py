"""Request limits and response headers through the real host: oversized, over-deep and
mistyped bodies get their own 4xx, every app response carries the security headers, and
CORS answers only origins on the allow-list."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(60)

SECURITY = ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Content-Security-Policy")


async def test_an_oversized_body_is_413(api, actor):
    tutor = await actor("tutor")
    resp = await api.post("courses", headers={**tutor.headers, "content-type": "application/json"},
                          content=b'{"title": "' + b"x" * 1_100_000 + b'"}')
    assert resp.status_code == 413
    assert resp.headers["content-type"].startswith("application/problem+json")


async def test_deep_json_and_wrong_content_types_are_refused(api, actor):
    tutor = await actor("tutor")
    deep = await api.post("courses", headers={**tutor.headers, "content-type": "application/json"},
                          content=b'{"title": ' + b"[" * 200 + b"]" * 200 + b"}")
    assert deep.status_code == 400 and "deeper" in deep.json()["detail"]
    form = await api.post("courses", headers={**tutor.headers, "content-type": "text/plain"}, content=b"title=x")
    assert form.status_code == 415


@pytest.mark.parametrize("path", ["health", "courses", "courses/not-a-uuid", "openapi.json"])
async def test_every_app_response_carries_the_security_headers(api, path):
    resp = await api.get(path)
    for name in SECURITY:
        assert name in resp.headers, (path, name)


async def test_cors_answers_allowed_origins_only(api):
    allowed = await api.get("health", headers={"Origin": "http://localhost:5173"})
    assert allowed.headers.get("access-control-allow-origin") == "http://localhost:5173"
    foreign = await api.get("health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in foreign.headers


async def test_a_preflight_from_an_allowed_origin_is_answered(api):
    resp = await api.options("courses", headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST",
                                                 "Access-Control-Request-Headers": "authorization,content-type"})
    assert resp.status_code in (200, 204)
    assert resp.headers.get("access-control-allow-origin") == "http://localhost:5173"
