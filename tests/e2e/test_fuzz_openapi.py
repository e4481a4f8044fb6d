"""Property-based fuzzing of every documented operation, as each role.

Schemathesis reads `/api/openapi.json` and sends generated requests (a fixed seed and a
bounded number of examples per operation). Whatever it sends, the API must never answer
5xx, and every answer must be documented: its status, its content type and its body's
schema. The Web PubSub event handler is left out: it is not a JSON API but a
signature-gated CloudEvents endpoint, covered by its own tests. So are the erasures
(`DELETE /api/me`, `DELETE /api/admin/users/{userId}`): a generated one can erase the
caller, and every later request would be a 401 (tests/e2e/test_privacy.py covers them).

Random UUIDs only ever reach the "no such resource" answer, so each run first builds a
small world (a course with lessons, a quiz, a material, a live class with a poll) that the
caller owns, is enrolled in or administers, and schemathesis draws ids from it most of the
time: the generated bodies then reach the code behind the 404s. The student's run leaves
out leaving a course (`DELETE .../enrollments/me`): it would end the very enrolment every
other operation of the run relies on (its scenarios are tests/e2e/test_student_app.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.actors import Actor, new_actor
from tests.support.content import add_lesson, add_quiz, create_course, enrol, publish, upload_material
from tests.support.live import create_class, start_class

pytestmark = pytest.mark.timeout(300)

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
EXAMPLES_PER_OPERATION = 20
REAL_ID_PROBABILITY = 0.8


def _st() -> str:
    return str(Path(sys.executable).with_name("st"))


def _tally(events: Path) -> tuple[int, int, int, int]:
    """(examples sent, checks run, checks failed, 2xx answers) from schemathesis' NDJSON events."""
    examples = checks = failed = successes = 0
    for line in events.read_text().splitlines():
        finished = json.loads(line).get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished["recorder"]  # a skipped scenario (no examples in the schema) records nothing
        examples += len(recorder.get("cases", {}))
        for results in recorder.get("checks", {}).values():
            checks += len(results)
            failed += sum(1 for r in results if r["status"] != "success")
        for interaction in recorder.get("interactions", {}).values():
            successes += 200 <= ((interaction.get("response") or {}).get("status_code") or 0) < 300
    return examples, checks, failed, successes


async def _world(api, caller: Actor | None) -> dict[str, list[str]]:
    """Ids the caller can reach, keyed by the parameter names the OpenAPI document uses."""
    owner = caller if caller is not None and "tutor" in caller.roles else await new_actor(api, "tutor")
    course = await create_course(api, owner)
    video = await add_lesson(api, owner, course["id"], title="Video")
    quiz = await add_quiz(api, owner, course["id"])
    material = await upload_material(api, owner, course["id"], b"%PDF-1.4 fuzz", file_name="f.pdf",
                                     content_type="application/pdf")
    await publish(api, owner, course["id"])
    if caller is not None and "student" in caller.roles:
        await enrol(api, caller, course["id"])
    klass = await create_class(api, owner, course["id"])
    await start_class(api, owner, klass["id"])
    poll = (await api.post(f"classes/{klass['id']}/polls", headers=owner.headers,
                           json={"question": "Ready?", "options": ["yes", "no"]})).json()
    student = await new_actor(api, "student")
    return {
        "courseId": [course["id"]],
        "lessonId": [video["id"], quiz["lessonId"]],
        "quizId": [quiz["id"]],
        "materialId": [material["materialId"]],
        "classId": [klass["id"]],
        "pollId": [poll["id"]],
        "userId": [student.user_id, owner.user_id],
    }


def _config(world: dict[str, list[str]]) -> str:
    """schemathesis.toml: one dictionary per kind of id, bound wherever that name appears."""
    lines = []
    for name, values in world.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    for name in world:
        for location in ("path", "query", "body"):
            lines.append(f'"{location}.{name}" = {{ dictionary = "{name}", probability = {REAL_ID_PROBABILITY} }}')
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("role", [None, "student", "tutor", "admin"], ids=["anonymous", "student", "tutor", "admin"])
async def test_no_generated_request_breaks_the_contract(api, stack, role, tmp_path):
    who = await new_actor(api, role) if role is not None else None
    (tmp_path / "schemathesis.toml").write_text(_config(await _world(api, who)))
    origin = stack.base_url.rsplit("/api", 1)[0]
    args = [
        _st(), "run", f"{origin}/api/openapi.json", "--url", origin,
        "-n", str(EXAMPLES_PER_OPERATION), "--seed", "20261125",
        "--checks", CHECKS, "--exclude-path-regex", "webpubsub",
        "--exclude-operation-id", "erase_me", "--exclude-operation-id", "admin_erase_user",
        "--phases", "examples,fuzzing", "--no-shrink", "--continue-on-failure",
        "--request-timeout", "15", "-w", "1",  # one worker: CPython 3.11 ast.parse is not thread-safe under hypothesis
        "--report", "ndjson", "--report-ndjson-path", str(tmp_path / "events.ndjson"),
    ]
    if who is not None:
        args += ["-H", f"Authorization: Bearer {who.token}"]
    if role == "student":
        args[args.index("webpubsub")] = "webpubsub|enrollments/me$"
    # cwd: schemathesis reads the schemathesis.toml written above from there.
    result = subprocess.run(args, capture_output=True, text=True, timeout=280, cwd=tmp_path)
    output = result.stdout + result.stderr
    totals = re.search(r"(\d+) generated, .*", output)
    examples, checks, failed, successes = _tally(tmp_path / "events.ndjson")
    print(f"schemathesis as {role or 'anonymous'}: {totals.group(0) if totals else 'no totals'}; "
          f"examples={examples} checks={checks} failures={failed} 2xx={successes}")
    assert result.returncode == 0, output[-6000:]
    assert totals and int(totals.group(1)) > 0, output[-2000:]
    assert checks > 0 and failed == 0
    if who is not None:
        assert successes > examples // 4, "the generated requests mostly reached real resources"
