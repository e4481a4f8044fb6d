"""HTTP triggers through the local host: routing, request and response objects, failures, CORS."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from devhost.http_server import MAX_REQUEST_BYTES
from tests.devhost.conftest import SampleHost

pytestmark = pytest.mark.integration

NOT_FOUND = {"type": "about:blank", "title": "Not Found", "status": 404}


@pytest.fixture(scope="module")
def http(sample_host: SampleHost) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sample_host.base_url + "/", timeout=30) as client:
        yield client


def handler(http: httpx.Client, path: str) -> str | None:
    response = http.get(path)
    return response.json()["handler"] if response.status_code == 200 else None


def test_literal_routes_beat_constrained_ones_which_beat_plain_parameters(http):
    assert handler(http, "items/special") == "item_special"
    assert handler(http, "items/42") == "item_by_id"
    assert handler(http, "items/forty-two") == "item_by_name"
    assert http.get("items/42").json()["route_params"] == {"id": "42"}


def test_route_constraints_decide_which_paths_match(http):
    guid = "6f1c2b1e-6c1f-4f8e-9a44-0a0000000001"
    assert http.get(f"things/{guid}").json()["route_params"] == {"id": guid}
    assert http.get("things/not-a-guid").status_code == 404
    assert http.get("letters/abc").json()["route_params"] == {"word": "abc"}
    assert http.get("letters/abc1").status_code == 404
    assert http.get("codes/123").json()["route_params"] == {"code": "123"}
    assert http.get("codes/12").status_code == 404


def test_optional_default_and_catch_all_parameters(http):
    assert http.get("greet").text == "hello, world"
    assert http.get("greet/ana").text == "hello, ana"
    assert http.get("pages").json()["route_params"] == {"page": "1"}
    assert http.get("pages/3").json()["route_params"] == {"page": "3"}
    assert http.get("files/a/b/c.txt").json()["route_params"] == {"path": "a/b/c.txt"}
    assert http.get("files").json()["route_params"] == {}


def test_a_route_without_the_requested_method_is_a_404_not_a_405(http):
    response = http.post("items/42")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    assert http.get("submit").status_code == 404
    assert http.post("submit").status_code == 201


def test_an_unknown_route_is_a_problem_json_404(http, sample_host):
    for url in ("nothing/here", f"{sample_host.base_url.rsplit('/api', 1)[0]}/outside/the/prefix"):
        response = http.get(url)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json() == NOT_FOUND


def test_the_request_object_is_built_like_the_worker_builds_it(http):
    body = b'{"name": "Ada"}'
    response = http.post(
        "echo/a/b?x=1&x=2&y=3",
        content=body,
        headers=[("Content-Type", "application/json"), ("X-Trace", "one"), ("X-Trace", "two")],
    )
    seen = response.json()
    assert seen["type"] == "HttpRequest"
    assert seen["method"] == "POST"
    assert seen["url"].endswith("/api/echo/a/b?x=1&x=2&y=3")
    assert seen["params"] == {"x": "1,2", "y": "3"}
    assert seen["route_params"] == {"rest": "a/b"}
    assert seen["headers"]["content-type"] == "application/json"
    assert seen["headers"]["x-trace"] == "one,two"
    assert base64.b64decode(seen["body_b64"]) == body
    assert seen["json"] == {"name": "Ada"}


def test_a_client_that_expects_100_continue_is_told_to_send_its_body(sample_host):
    # A client that asks first (curl does, for large bodies) hears "100 Continue" before it
    # sends the body, and then the function's own answer.
    url = urlsplit(sample_host.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(
            f"POST {url.path}/echo/continue HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Length: 5\r\n"
            "Expect: 100-continue\r\n\r\n".encode()
        )
        interim = sock.recv(64)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"hello")
        final = b""
        while b"\r\n\r\n" not in final or not final.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            final += chunk
    head, _, body = final.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert base64.b64decode(json.loads(body)["body_b64"]) == b"hello"


def test_a_body_over_the_hosts_limit_is_413(http):
    response = http.post("echo/big", content=b"x" * (MAX_REQUEST_BYTES + 1))
    assert response.status_code == 413


def test_get_json_on_a_body_that_is_not_json_raises_value_error(http):
    seen = http.put("echo/x", content=b"\xff not json").json()
    assert seen["json"].startswith("ValueError")
    assert base64.b64decode(seen["body_b64"]) == b"\xff not json"


def test_the_response_carries_status_headers_mimetype_and_charset(http):
    response = http.post(
        "respond",
        json={"status": 201, "body": "{\"ok\": true}", "mimetype": "application/json", "headers": {"X-Custom": "yes"}},
    )
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-custom"] == "yes"
    assert response.json() == {"ok": True}

    text = http.post("respond", json={"body": "héllo", "charset": "latin-1"})
    assert text.headers["content-type"] == "text/plain; charset=latin-1"
    assert text.content == "héllo".encode("latin-1")

    own = http.post("respond", json={"body": "x", "headers": {"Content-Type": "application/vnd.custom"}})
    assert own.headers["content-type"] == "application/vnd.custom"


def test_every_cookie_reaches_the_client(http):
    response = http.post("respond", json={"status": 204, "cookies": ["a=1; Path=/", "b=2; HttpOnly"]})
    assert response.status_code == 204
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]


def test_a_plain_string_return_value_is_a_200_text_response(http):
    response = http.get("greet/bob")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "hello, bob"


def test_an_exception_is_a_500_with_an_empty_body(http, sample_host):
    response = http.get("boom")
    assert response.status_code == 500
    assert response.content == b""
    assert "this function always fails" in sample_host.log_file.read_text()


def test_a_return_value_that_is_not_a_response_is_a_500(http):
    response = http.get("wrong-type")
    assert response.status_code == 500 and response.content == b""


def test_sync_functions_run_off_the_event_loop(http):
    assert http.get("sync").json() == {"main_thread": False, "on_event_loop": False}


def test_functions_that_ask_for_a_context_get_one(http):
    seen = http.get("context").json()
    assert seen["function_name"] == "with_context"
    assert len(seen["invocation_id"]) == 36


def test_every_invocation_is_logged_in_the_host_style(http, sample_host):
    http.get("letters/logged")
    log = sample_host.log_file.read_text()
    assert "Executing 'Functions.letters' (Reason='This function was programmatically called via the host APIs.', Id=" in log
    assert "Executed 'Functions.letters' (Succeeded, Id=" in log
    assert "Executed 'Functions.boom' (Failed, Id=" in log


def test_a_category_level_in_host_json_quiets_a_functions_lines_but_not_its_failures(http, sample_host):
    # host.json sets Function.item_by_id and (in other letters) Function.boom to Warning.
    assert http.get("items/7").status_code == 200
    assert http.get("boom").status_code == 500
    log = sample_host.log_file.read_text()
    assert "Executing 'Functions.item_by_id'" not in log and "Executed 'Functions.item_by_id'" not in log
    assert "Executing 'Functions.boom'" not in log
    assert "Executed 'Functions.boom' (Failed, Id=" in log


@pytest.mark.slow
def test_function_timeout_ends_the_invocation_with_a_500(http):
    started = time.monotonic()
    response = http.get("slow")
    elapsed = time.monotonic() - started
    assert response.status_code == 500
    assert 4.5 < elapsed < 15  # host.json functionTimeout is 00:00:05; the function sleeps 30s


def test_host_cors_applies_to_allowed_origins_only(http):
    allowed = http.get("items/7", headers={"Origin": "http://allowed.example"})
    assert allowed.headers["access-control-allow-origin"] == "http://allowed.example"
    other = http.get("items/7", headers={"Origin": "http://elsewhere.example"})
    assert "access-control-allow-origin" not in other.headers


def test_cors_headers_set_by_the_app_are_left_alone(http):
    response = http.post(
        "respond",
        json={"body": "x", "headers": {"Access-Control-Allow-Origin": "http://app.example"}},
        headers={"Origin": "http://allowed.example"},
    )
    assert response.headers.get_list("access-control-allow-origin") == ["http://app.example"]


def test_the_host_answers_preflights_for_allowed_origins(http):
    preflight = http.options(
        "items/7",
        headers={
            "Origin": "http://allowed.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "http://allowed.example"
    assert preflight.headers["access-control-allow-methods"] == "GET"
    assert preflight.headers["access-control-allow-headers"] == "authorization"
    refused = http.options("items/7", headers={"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "GET"})
    assert refused.status_code == 404
