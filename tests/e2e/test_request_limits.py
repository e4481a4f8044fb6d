"""Request limits and response headers through the real host: oversized, over-deep and
mistyped bodies get their own 4xx, every response under /api carries the security
headers (the app's, paths no function serves, the Web PubSub event handler's), and CORS
answers only origins on the allow-list, locally through Host.CORS and in Azure through
the platform's CORS settings that Bicep fills from a parameter."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra import bicep_text
from tests.support.content import create_course

pytestmark = pytest.mark.timeout(60)

SECURITY = ("X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Content-Security-Policy",
            "Strict-Transport-Security")
BICEP = Path(__file__).resolve().parents[2] / "infra" / "bicep"


def _secured(resp) -> None:
    for name in SECURITY:
        assert name in resp.headers, (str(resp.url), resp.status_code, name)
    assert resp.headers["x-content-type-options"] == "nosniff"


async def test_an_oversized_body_is_413_on_every_kind_of_write(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    big = b'{"title": "' + b"x" * 1_100_000 + b'"}'
    course = await api.post("courses", headers={**tutor.headers, "content-type": "application/json"}, content=big)
    assert course.status_code == 413
    assert course.headers["content-type"].startswith("application/problem+json")
    course_id = (await create_course(api, tutor))["id"]
    patch = await api.patch(f"courses/{course_id}", headers={**tutor.headers, "content-type": "application/json"}, content=big)
    assert patch.status_code == 413
    webhook = await api.post("payments/webhook", headers={"content-type": "application/json"}, content=big)
    assert webhook.status_code == 413
    sync = await api.post("progress/sync", headers={**student.headers, "content-type": "application/json"}, content=big)
    assert sync.status_code == 413


async def test_deep_json_and_wrong_content_types_are_refused(api, actor):
    tutor = await actor("tutor")
    deep = await api.post("courses", headers={**tutor.headers, "content-type": "application/json"},
                          content=b'{"title": ' + b"[" * 200 + b"]" * 200 + b"}")
    assert deep.status_code == 400 and "deeper" in deep.json()["detail"]
    # Deep enough to exhaust the parser's recursion: refused before parsing, not a 500.
    for levels in (1_000, 100_000):
        hostile = await api.post("courses", headers={**tutor.headers, "content-type": "application/json"},
                                 content=b"[" * levels + b"]" * levels)
        assert hostile.status_code == 400 and "deeper" in hostile.json()["detail"], (levels, hostile.text[:200])
    form = await api.post("courses", headers={**tutor.headers, "content-type": "text/plain"}, content=b"title=x")
    assert form.status_code == 415
    broken = await api.post("courses", headers={**tutor.headers, "content-type": "application/json"}, content=b'{"title": ')
    assert broken.status_code == 400 and broken.headers["content-type"].startswith("application/problem+json")
    for response in (deep, form, broken):
        _secured(response)


async def test_header_bytes_that_are_not_text_are_a_400_not_a_500(api, actor):
    tutor = await actor("tutor")
    for name, value in (("Idempotency-Key", b"key-\xc3\xa9-\xff\xfe"), ("Authorization", b"Bearer \xff\xfe")):
        resp = await api.post("courses", headers={**tutor.headers, name: value},
                              json={"title": "Hostile header", "description": "d"})
        assert resp.status_code in (400, 401), (name, resp.status_code, resp.text[:200])
        assert resp.headers["content-type"].startswith("application/problem+json")
        _secured(resp)


@pytest.mark.parametrize("path", ["health", "courses", "courses/not-a-uuid", "openapi.json"])
async def test_every_app_response_carries_the_security_headers(api, path):
    _secured(await api.get(path))


@pytest.mark.parametrize("method,path", [
    ("GET", "no/such/path"),
    ("POST", "nothing-here"),
    ("DELETE", "courses"),  # a real path, but not a method it takes
    ("PUT", "admin/audit"),
])
async def test_paths_and_methods_no_function_serves_are_problem_json_404s_with_the_headers(api, method, path):
    resp = await api.request(method, path)
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["status"] == 404
    _secured(resp)


async def test_the_web_pubsub_event_handler_answers_with_the_security_headers(api):
    handshake = await api.options("webpubsub/events", headers={"WebHook-Request-Origin": "evil.example"})
    assert handshake.status_code == 401
    _secured(handshake)
    unsigned = await api.post("webpubsub/events", content=b"{}", headers={
        "ce-type": "azure.webpubsub.user.message", "ce-connectionid": "c1", "ce-signature": "sha256=00",
        "content-type": "application/json"})
    assert unsigned.status_code == 401
    _secured(unsigned)


async def test_cors_answers_allowed_origins_only(api):
    allowed = await api.get("health", headers={"Origin": "http://localhost:5173"})
    assert allowed.headers.get("access-control-allow-origin") == "http://localhost:5173"
    foreign = await api.get("health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in foreign.headers


async def test_a_preflight_from_an_allowed_origin_is_answered_and_a_foreign_one_is_not(api):
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    resp = await api.options("courses", headers={"Origin": "http://localhost:5173", **ask})
    assert resp.status_code in (200, 204)
    assert resp.headers.get("access-control-allow-origin") == "http://localhost:5173"
    foreign = await api.options("courses", headers={"Origin": "https://evil.example", **ask})
    assert "access-control-allow-origin" not in foreign.headers


def test_azure_cors_is_the_platforms_filled_from_the_allow_list_parameter():
    main = bicep_text.parse(BICEP / "main.bicep")
    assert "corsAllowedOrigins" in main.params
    app = next(m for m in main.modules.values() if m.path == "modules/function-app.bicep")
    assert "corsAllowedOrigins" in app.params["corsAllowedOrigins"]
    settings = bicep_text.object_keys(main.vars["appSettings"])
    assert settings["LECTERN_CORS_ALLOWED_ORIGINS"] == "corsAllowedOrigins"
    module = (BICEP / "modules" / "function-app.bicep").read_text()
    cors = module[module.index("cors: {"):]
    assert "allowedOrigins: corsAllowedOrigins" in cors[: cors.index("}")]
