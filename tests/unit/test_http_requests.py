"""Request parsing: every kind of bad body gets its own clear 4xx, never a 500."""

from __future__ import annotations

import json

import azure.functions as func
import pytest

from shared_code.errors import BadRequest, NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from shared_code.http import guarded, json_body, respond, route_id
from shared_code.models.system import DevTokenRequest


def _req(body: bytes, content_type: str | None = "application/json", route_params=None) -> func.HttpRequest:
    headers = {"content-type": content_type} if content_type else {}
    return func.HttpRequest("POST", "http://h/api/x", headers=headers, body=body, route_params=route_params or {})


def test_malformed_json_is_a_400_that_says_so():
    with pytest.raises(BadRequest) as err:
        json_body(_req(b'{"name": '), DevTokenRequest)
    assert "not valid JSON" in err.value.detail


def test_wrong_types_and_unknown_fields_name_each_field():
    with pytest.raises(ValidationFailed) as err:
        json_body(_req(json.dumps({"name": 5, "roles": "tutor", "extra": 1}).encode()), DevTokenRequest)
    fields = {e.field for e in err.value.errors}
    assert {"name", "roles", "extra"} <= fields


def test_camel_case_fields_are_accepted():
    body = json_body(_req(b'{"name": "A", "roles": ["tutor"], "userId": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"}'), DevTokenRequest)
    assert str(body.user_id) == "1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def test_oversized_bodies_are_413():
    with pytest.raises(PayloadTooLarge):
        json_body(_req(b'{"name": "' + b"a" * 2_000_000 + b'"}'), DevTokenRequest)


def test_non_json_content_type_is_415():
    with pytest.raises(UnsupportedMediaType):
        json_body(_req(b"name=a", content_type="application/x-www-form-urlencoded"), DevTokenRequest)


@pytest.mark.parametrize("levels", [100, 1_000, 100_000])
def test_deeply_nested_json_is_refused_before_the_parser_recurses(levels):
    deep = b"[" * levels + b"]" * levels
    with pytest.raises(BadRequest) as err:
        json_body(_req(deep), DevTokenRequest)
    assert "deeper" in err.value.detail


def test_brackets_inside_strings_do_not_count_as_nesting():
    body = b'{"name": "' + b"[" * 150 + b'", "roles": ["student"]}'
    assert json_body(_req(body), DevTokenRequest).name.startswith("[[[")


def test_empty_body_is_a_400():
    with pytest.raises(BadRequest):
        json_body(_req(b""), DevTokenRequest)


def test_route_ids_that_are_not_uuids_are_404():
    with pytest.raises(NotFound):
        route_id(_req(b"", route_params={"courseId": "abc"}), "courseId")
    assert route_id(_req(b"", route_params={"courseId": "1B4E28BA-2FA1-11D2-883F-0016D3CCA427"}), "courseId") == (
        "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    )
    # The canonical form is taken as it is; every other spelling of an id still comes out canonical.
    for spelling in ("1b4e28ba-2fa1-11d2-883f-0016d3cca427", "{1b4e28ba-2fa1-11d2-883f-0016d3cca427}",
                     "1b4e28ba2fa111d2883f0016d3cca427"):
        assert route_id(_req(b"", route_params={"lessonId": spelling}), "lessonId") == "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    with pytest.raises(NotFound):
        route_id(_req(b"", route_params={"lessonId": "1b4e28ba-2fa1-11d2-883f-0016d3cca427\n"}), "lessonId")


async def test_an_unhandled_exception_becomes_a_500_problem_with_a_correlation_id(caplog):
    async def broken(req: func.HttpRequest) -> func.HttpResponse:
        raise RuntimeError("secret internals")

    resp = await guarded("broken", broken)(_req(b"{}"))
    body = json.loads(resp.get_body())
    assert resp.status_code == 500
    assert resp.mimetype == "application/problem+json"
    assert body["correlationId"]
    assert "secret internals" not in resp.get_body().decode()
    assert body["correlationId"] in caplog.text


async def test_domain_errors_map_to_their_status_and_every_response_has_security_headers():
    async def missing(req: func.HttpRequest) -> func.HttpResponse:
        raise NotFound("No such course.")

    resp = await guarded("missing", missing)(_req(b"{}"))
    assert resp.status_code == 404
    assert json.loads(resp.get_body())["detail"] == "No such course."
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_responses_are_camel_case_json():
    from shared_code.models.system import DevToken

    resp = respond(DevToken(token="t", expires_at="2030-01-01T00:00:00Z", user_id="1b4e28ba-2fa1-11d2-883f-0016d3cca427"))
    assert set(json.loads(resp.get_body())) == {"token", "expiresAt", "userId"}


@pytest.mark.parametrize("text", ['"a\\u0000b"', '"\\udb0a"'])
def test_text_no_store_can_hold_is_a_400_not_a_500(text):
    with pytest.raises(BadRequest) as err:
        json_body(_req(('{"name": ' + text + ', "roles": ["tutor"]}').encode()), DevTokenRequest)
    assert "NUL" in err.value.detail


def _from(forwarded: str | None) -> func.HttpRequest:
    headers = {"x-forwarded-for": forwarded} if forwarded is not None else {}
    return func.HttpRequest("POST", "http://h/api/x", headers=headers, body=b"")


@pytest.mark.parametrize("forwarded,address", [
    ("203.0.113.7:51234", "203.0.113.7"),
    ("203.0.113.7", "203.0.113.7"),
    ("[2001:db8::1]:443", "2001:db8::1"),
    ("2001:db8::1", "2001:db8::1"),
    ("10.9.9.9, 198.51.100.4:6000", "198.51.100.4"),  # the client forged the left entry
    ("", "unknown"),
    (None, "unknown"),
])
def test_the_callers_address_is_the_entry_the_front_end_appended(forwarded, address):
    from shared_code.http import client_ip

    assert client_ip(_from(forwarded)) == address
