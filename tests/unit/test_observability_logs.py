"""The app's log lines: JSON locally, with the invocation, trace, class, course and a hashed
user, and never a bearer token, a JWT, a key or an email address, wherever in the record it
was put (message, arguments, extra fields, exception)."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from shared_code import logs
from shared_code.settings import Settings

pytestmark = pytest.mark.unit

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzdHVkZW50LTEifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
EMAIL = "ada.lovelace@example.org"
USER = "4f1c2d3e-0000-4000-8000-000000000001"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger under `lectern` whose records reach a JSON handler with the context filter,
    the way `logs.install` sets up the app's handlers."""
    logs.set_hash_key(Settings(environment="test", connection_state_key="unit-test-key"))
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonLines())
    logs.protect(handler)
    parent = logging.getLogger("lectern.unit-observability")
    parent.addHandler(handler)
    parent.setLevel(logging.DEBUG)
    parent.propagate = False
    yield logging.getLogger("lectern.unit-observability.child"), out
    parent.removeHandler(handler)


def lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_bearer_token_in_the_message_or_its_arguments_never_reaches_the_output(captured):
    log, out = captured
    log.info("rejected Authorization: Bearer %s", TOKEN)
    log.warning("header was %s", f"bearer {TOKEN}")
    log.info(f"raw jwt {TOKEN} in an f-string")
    text = out.getvalue()
    assert TOKEN not in text and TOKEN[:20] not in text
    assert all("[redacted]" in line["message"] for line in lines(out))


def test_an_email_in_the_message_or_in_a_field_never_reaches_the_output(captured):
    log, out = captured
    log.info("invited %s to the course", EMAIL, extra={"invitee": f"Ada <{EMAIL}>", "email": EMAIL, "count": 3})
    text = out.getvalue()
    assert EMAIL not in text and "lovelace" not in text
    (line,) = lines(out)
    assert line["message"] == "invited [email] to the course"
    assert line["email"] == "[redacted]" and line["invitee"] == "Ada <[email]>" and line["count"] == 3


def test_secret_fields_and_url_secrets_are_dropped(captured):
    log, out = captured
    log.info("calling %s", "https://acct.blob.core.windows.net/c/b?sv=2024&sig=S3cr3tSig%3D&se=x",
             extra={"authorization": "Basic dXNlcjpwYXNz", "conn": "AccountName=a;AccountKey=k3y==;",
                    "db": "postgresql://app:hunter2@db.example:5432/lectern"})
    text = out.getvalue()
    for secret in ("S3cr3tSig", "dXNlcjpwYXNz", "k3y==", "hunter2"):
        assert secret not in text


def test_an_exception_carrying_a_token_is_logged_without_it(captured):
    log, out = captured
    try:
        raise ValueError(f"bad token Bearer {TOKEN}")
    except ValueError:
        log.exception("verification failed")
    (line,) = lines(out)
    assert "ValueError" in line["exception"] and TOKEN not in out.getvalue()


def test_the_bound_context_is_on_every_line_and_the_user_only_hashed(captured):
    log, out = captured
    with logs.bound(invocation_id="inv-1", operation="record_progress", class_id="class-9", course_id="course-7",
                    user_id=USER, trace_id="0af7651916cd43dd8448eb211c80319c"):
        log.info("heartbeat", extra={"userId": USER})
    log.info("after the invocation")
    first, after = lines(out)
    assert first["invocationId"] == "inv-1" and first["classId"] == "class-9" and first["courseId"] == "course-7"
    assert first["operation"] == "record_progress" and first["traceId"] == "0af7651916cd43dd8448eb211c80319c"
    assert USER not in out.getvalue()
    assert first["userHash"] == logs.user_hash(USER) == first["userId"]
    assert "invocationId" not in after and "userHash" not in after


def test_the_user_hash_is_keyed_stable_and_not_the_plain_sha256():
    import hashlib

    logs.set_hash_key(Settings(environment="test", connection_state_key="key-one"))
    one = logs.user_hash(USER)
    assert one == logs.user_hash(USER) and len(one) == 16
    assert one != hashlib.sha256(USER.encode()).hexdigest()[:16]
    logs.set_hash_key(Settings(environment="test", connection_state_key="key-two"))
    assert logs.user_hash(USER) != one


def test_install_makes_the_console_write_app_records_as_json_and_host_lines_as_before(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("[host] %(message)s"))
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [console])
    monkeypatch.setattr(root, "level", logging.INFO)
    logs.install(Settings(environment="test", log_format="json"))
    logs.install(Settings(environment="test", log_format="json"))  # twice: still one JSON layer

    logging.getLogger("Function").info("Executing 'Functions.x'")
    logging.getLogger("lectern.unit-install").info("sent to %s", EMAIL)
    host_line, app_line = out.getvalue().splitlines()
    assert host_line == "[host] Executing 'Functions.x'"
    assert json.loads(app_line)["message"] == "sent to [email]"
    assert logging.getLogger("lectern").propagate is True
