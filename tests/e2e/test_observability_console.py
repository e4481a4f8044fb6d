"""LECTERN_TRACE_CONSOLE=1 on a local host of its own: a request's spans are printed, the
HTTP span with PostgreSQL and Redis calls under it, and the queue-triggered retry of the
effect it queued prints in the same trace. Its JSON log lines carry the invocation, the
trace, the course and a hashed user, and no token.

The host is the app as `make up` serves it, with two changes: an outbox queue of its own
(so the profile's host does not take its messages) and an audit table name Table storage
refuses, so the audit row of an edit fails on the request path and goes to the queue."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.redis_server import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

SPAN = re.compile(r"^\[span\] trace=(\w{32}) span=(\w{16}) parent=(\w{16}|-) ([\d.]+)ms (\w+) (.*)$")


@dataclass(frozen=True)
class Span:
    trace: str
    span: str
    parent: str
    kind: str
    rest: str


@dataclass(frozen=True)
class TracedHost:
    base_url: str
    log: Path

    def spans(self) -> list[Span]:
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            match = SPAN.match(line)
            if match:
                trace, span, parent, _, kind, rest = match.groups()
                found.append(Span(trace, span, parent, kind, rest))
        return found

    def json_lines(self) -> list[dict]:
        lines = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    pass
        return lines


@pytest.fixture(scope="module")
def traced_host(stack, test_stack, tmp_path_factory) -> Iterator[TracedHost]:
    port = free_port()
    env = {
        **os.environ, **test_stack.env(),
        "LECTERN_TRACE_CONSOLE": "1",
        "LECTERN_LOG_FORMAT": "json",
        "LECTERN_OUTBOX_QUEUE": f"outbox-traced-{uuid.uuid4().hex[:10]}",
        "LECTERN_AUDIT_TABLE": "no-such-table!",
    }
    log_path = tmp_path_factory.mktemp("traced-host") / "host.log"
    log = open(log_path, "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--app-dir", str(test_stack.repo), "--port", str(port), "--no-timers"],
        cwd=test_stack.repo, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"the traced host exited while starting:\n{log_path.read_text()[-2000:]}"
            try:
                if httpx.get(f"{base}/system/noop", timeout=2).status_code == 204:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the traced host did not start"
            time.sleep(0.2)
        yield TracedHost(base, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _eventually(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def _under(span: Span, root: Span, by_id: dict[str, Span]) -> bool:
    while span.parent != "-":
        if span.parent == root.span:
            return True
        if span.parent not in by_id:
            return False
        span = by_id[span.parent]
    return False


async def test_a_slow_request_shows_its_spans_and_its_queued_retry_in_the_same_trace(traced_host):
    async with httpx.AsyncClient(base_url=traced_host.base_url + "/", timeout=30) as api:
        minted = await api.post("dev/token", json={"name": "traced tutor", "roles": ["tutor"]})
        assert minted.status_code == 200, minted.text
        token, user_id = minted.json()["token"], minted.json()["userId"]
        auth = {"Authorization": f"Bearer {token}"}
        created = await api.post("courses", json={"title": "Traced algebra"}, headers=auth)
        assert created.status_code == 201, created.text
        course_id = created.json()["id"]

        trace = uuid.uuid4().hex
        edited = await api.patch(f"courses/{course_id}", json={"title": "Traced algebra II"},
                                 headers={**auth, "traceparent": f"00-{trace}-{uuid.uuid4().hex[:16]}-01"})
        assert edited.status_code == 200, edited.text

    def request_spans() -> list[Span] | None:
        spans = [s for s in traced_host.spans() if s.trace == trace]
        return spans if any(s.kind == "SERVER" for s in spans) else None

    spans = _eventually(request_spans)
    assert spans, f"no span of trace {trace} in the host's output"
    by_id = {s.span: s for s in spans}
    (server,) = [s for s in spans if s.kind == "SERVER"]
    assert server.rest.startswith("PATCH /api/courses/{courseId}") and "http.response.status_code='200'" in server.rest
    children = [s for s in spans if _under(s, server, by_id)]
    assert any("db.system='postgresql'" in s.rest for s in children), [s.rest for s in spans]
    assert any("db.system='redis'" in s.rest for s in children), [s.rest for s in spans]

    retried = _eventually(lambda: [s for s in traced_host.spans()
                                   if s.trace == trace and s.kind == "CONSUMER" and "outbox audit.insert" in s.rest])
    assert retried, "the queue trigger's retry of the audit row is not in the request's trace"

    lines = [line for line in traced_host.json_lines() if line.get("traceId") == trace]
    queued = [line for line in lines if line["message"].startswith("effect audit.insert failed")]
    assert queued and queued[0]["courseId"] == course_id and queued[0]["operation"] == "update_course"
    assert queued[0]["invocationId"] and queued[0]["userHash"] and queued[0]["userHash"] != user_id
    output = traced_host.log.read_text(errors="replace")
    assert token not in output and token.split(".")[1] not in output
