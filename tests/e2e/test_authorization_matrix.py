"""Every endpoint of the contract, called as each kind of caller, against a table of the
answers the contract promises.

`OK` means the role is allowed: any 2xx, or a domain answer (409, 422) that only an
allowed caller can reach. Every other cell is the exact refusal: 401 without a token, 403
when the role or relation does not allow it. Rows that change state come last, so earlier
rows see the world as it was built. The public endpoints (health, the OpenAPI
document, development tokens, certificate verification) answer everyone alike; the endpoints called by services,
not people (the Stripe and Razorpay webhooks and the Web PubSub event handler), answer by
signature, so every caller without one gets the same refusal whatever token it carries.
"""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devhost.indexing import HTTP_TRIGGER
from tests.support.app_index import lectern_functions
from tests.support.completion import ALL_RIGHT, attempt, rendered_certificate
from tests.support.completion import quiz_lesson as add_quiz_lesson
from tests.support.content import add_lesson, create_course, enrol, publish, register_video, upload_material
from tests.support.live import create_class, end_class, start_class

pytestmark = pytest.mark.timeout(240)

# Registered functions that are not endpoints of the contract: the catch-all answers every
# path no function serves with a problem+json 404 (tests/e2e/test_request_limits.py).
NOT_ENDPOINTS = {"unknown_path"}

OK = "ok"
ROLES = ("anonymous", "enrolled", "other_student", "tutor", "owner", "admin")


@dataclass(frozen=True)
class Row:
    method: str
    path: str | Callable[[str], str]  # a callable gives each role its own target (deletes)
    expect: tuple  # one cell per role, in ROLES order
    body: dict | None = None
    headers: dict | None = None
    params: dict | None = None
    # Who calls as each role, when not the world's people (erasing oneself needs a person of
    # one's own per role, so the rows after it still find everyone).
    caller: str | None = None


MEMBERS = (401, OK, 403, 403, OK, OK)
MANAGERS = (401, 403, 403, 403, OK, OK)
OWNER_ONLY = (401, 403, 403, 403, OK, 403)
SIGNED_IN = (401, OK, OK, OK, OK, OK)
STUDENT_ONLY = (401, OK, 403, 403, 403, 403)
ADMIN_ONLY = (401, 403, 403, 403, 403, OK)
PUBLIC = (OK,) * 6


def rows(w: dict) -> list[Row]:
    c, ls, q, m, k, p = w["course"], w["lesson"], w["quiz"], w["material"], w["klass"], w["poll"]
    beat = {"positionSeconds": 1, "watchedSeconds": 1, "durationSeconds": 600}
    return [
        Row("GET", "health", PUBLIC),
        Row("GET", "openapi.json", PUBLIC),
        # development and test only (not registered in production): public on purpose
        Row("POST", "dev/token", PUBLIC, {"name": "matrix", "roles": ["student"]}),
        Row("GET", "system/noop", PUBLIC),
        Row("GET", "live/app", PUBLIC),
        Row("GET", "live/app.js", PUBLIC),
        Row("GET", "docs", PUBLIC),
        Row("GET", "docs/assets/init.js", PUBLIC),
        Row("POST", "payments/webhook", (400,) * 6, {"id": "evt_matrix", "type": "checkout.session.completed"}),
        Row("POST", "payments/razorpay/webhook", (400,) * 6, {"event": "payment.captured", "payload": {}}),
        Row("OPTIONS", "webpubsub/events", (401,) * 6, headers={"WebHook-Request-Origin": "evil.example"}),
        Row("POST", "webpubsub/events", (401,) * 6, {}, {"ce-type": "azure.webpubsub.user.message",
                                                        "ce-connectionid": "c1", "ce-signature": "sha256=00"}),
        Row("GET", "courses", SIGNED_IN),
        Row("POST", "courses", (401, 403, 403, OK, OK, OK), {"title": "Matrix course", "description": "d"}),
        Row("GET", f"courses/{c}", SIGNED_IN),
        Row("PATCH", f"courses/{c}", MANAGERS, {"description": "edited"}),
        Row("POST", f"courses/{c}/lessons", MANAGERS, {"title": "More", "kind": "document"}),
        Row("POST", "videos", (401, 403, 403, OK, OK, OK), {"title": "Matrix video", "durationSeconds": 60}),
        # Each tutor and admin lists only their own.
        Row("GET", "videos", (401, 403, 403, OK, OK, OK)),
        Row("GET", f"lessons/{ls}", MEMBERS),
        Row("PATCH", f"lessons/{ls}", MANAGERS, {"title": "Video"}),
        # allowed callers may get 422 once earlier rows added lessons the order does not name
        Row("PUT", f"courses/{c}/lessons/order", MANAGERS, {"lessonIds": [w["quiz_lesson"], ls]}),
        Row("GET", f"courses/{c}/students", MANAGERS, params={"sort": "progress", "order": "desc"}),
        Row("GET", f"lessons/{ls}/playback", MEMBERS),
        Row("POST", f"courses/{c}/materials/uploads", MANAGERS,
            {"fileName": "a.pdf", "contentType": "application/pdf", "sizeBytes": 10}),
        Row("POST", f"materials/{m}/publish", MANAGERS),
        Row("GET", f"courses/{c}/materials", MEMBERS),
        Row("GET", f"materials/{m}/download", MEMBERS),
        Row("PUT", f"progress/lessons/{ls}", STUDENT_ONLY, beat),
        # The offline queue refuses events one by one (a batch may mix courses), so a
        # student of another course gets a 200 whose every event is refused: checked below.
        Row("POST", "progress/sync", (401, OK, OK, 403, 403, 403),
            {"events": [{**beat, "lessonId": ls, "clientTime": datetime.now(UTC).isoformat()}]}),
        Row("GET", f"quizzes/{q}", MEMBERS),
        Row("GET", f"lessons/{w['quiz_lesson']}/quizzes", MEMBERS),
        Row("POST", "quizzes", MANAGERS, {"lessonId": w["quiz_lesson"], "title": "Another", "questions": [
            {"prompt": "?", "options": ["a", "b"], "correct": [0], "points": 1}]}),
        Row("POST", f"quizzes/{q}/attempts", STUDENT_ONLY, {"answers": [[1]]}, {"Idempotency-Key": "matrix"}),
        # a title changes even after the attempt the row above stored (questions would not: 409)
        Row("PATCH", f"quizzes/{q}", MANAGERS, {"title": "Q, renamed"}),
        Row("GET", "me/dashboard", SIGNED_IN),
        Row("GET", "me/certificates", SIGNED_IN),
        Row("GET", f"certificates/{w['certificate']}", PUBLIC),
        # Only the holder (the enrolled student, who completed the certificate's course);
        # under /me/ anyone else's code is not found.
        Row("GET", f"me/certificates/{w['certificate']}/download", (401, OK, 404, 404, 404, 404)),
        Row("GET", "me/purchases", SIGNED_IN),
        Row("GET", "me", SIGNED_IN),
        Row("GET", "me/enrollments", SIGNED_IN),
        Row("GET", "me/calendar", SIGNED_IN),
        Row("POST", "me/calendar/feed", SIGNED_IN),
        # read by calendar apps without a token: the signed URL is the check, so a forged
        # one is a 404 whoever asks
        Row("GET", "calendar/forged.token", (404,) * 6),
        # Only students buy; the enrolled one gets 409 (already has access), the other 422 (a free course).
        Row("POST", f"courses/{c}/checkout", (401, OK, OK, 403, 403, 403), {}),
        Row("GET", "me/changes", SIGNED_IN),
        Row("GET", f"courses/{c}/leaderboard", MEMBERS),
        Row("GET", f"courses/{c}/analytics", MANAGERS),
        Row("POST", "classes", MANAGERS, {"courseId": c, "title": "Another class",
                                          "scheduledAt": (datetime.now(UTC) + timedelta(days=1)).isoformat()}),
        Row("GET", "classes", MEMBERS, params={"courseId": c}),
        Row("GET", f"classes/{k}", MEMBERS),
        Row("POST", f"classes/{k}/negotiate", MEMBERS),
        Row("POST", "me/negotiate", SIGNED_IN),
        Row("GET", "me/notifications", SIGNED_IN, params={"unread": "true"}),
        # Every caller marks only their own; another user's id changes nothing (200, updated 0).
        Row("POST", "me/notifications/read", SIGNED_IN, {"all": True}),
        Row("GET", f"classes/{k}/state", MEMBERS),
        Row("GET", f"classes/{k}/polls/{p}", MEMBERS),
        Row("GET", f"classes/{k}/chat", MEMBERS),
        Row("GET", f"classes/{k}/attendance", MANAGERS),
        Row("PUT", f"classes/{w['ended_class']}/recording", MANAGERS, {"videoAssetId": w["recording"]}),
        Row("GET", f"classes/{w['ended_class']}/recording/playback", MEMBERS),
        # After the playback row: the first manager takes the recording off, a repeat is 204 too.
        Row("DELETE", f"classes/{w['ended_class']}/recording", MANAGERS),
        Row("POST", f"classes/{k}/polls", OWNER_ONLY, {"question": "Next?", "options": ["x", "y"]}),
        Row("POST", f"classes/{k}/moderation", MANAGERS, {"action": "unmute", "userId": w["enrolled_id"]}),
        Row("GET", "admin/audit", ADMIN_ONLY),
        Row("GET", "admin/deadletters", ADMIN_ONLY),
        Row("POST", f"admin/deadletters/{uuid.uuid4()}/replay", (401, 403, 403, 403, 403, 404)),
        Row("PUT", f"admin/users/{w['other_id']}/roles", ADMIN_ONLY, {"roles": ["student"]}),
        Row("GET", "me/export", SIGNED_IN),
        Row("GET", f"admin/users/{w['other_id']}/export", ADMIN_ONLY),
        Row("POST", "me/exports", SIGNED_IN),
        Row("GET", "me/exports", SIGNED_IN),
        Row("GET", f"admin/users/{w['other_id']}/exports", ADMIN_ONLY),
        # An export id that is not the caller's (none is): not found, for every signed-in caller.
        Row("GET", f"me/exports/{uuid.uuid4()}", (401, 404, 404, 404, 404, 404)),
        Row("POST", f"admin/users/{w['other_id']}/exports", ADMIN_ONLY),
        Row("GET", f"admin/users/{w['other_id']}/exports/{uuid.uuid4()}", (401, 403, 403, 403, 403, 404)),
        Row("GET", "admin/users", ADMIN_ONLY, params={"q": "matrix", "role": "student"}),
        Row("GET", "admin/analytics", ADMIN_ONLY),
        # state-changing rows last
        Row("POST", f"classes/{k}/polls/{p}/close", OWNER_ONLY),
        # Before the start row: only a scheduled class is renamed.
        Row("PATCH", f"classes/{w['spare_class']}", MANAGERS, {"title": "Renamed"}),
        Row("POST", f"classes/{w['spare_class']}/start", OWNER_ONLY),
        Row("POST", f"classes/{w['spare_class']}/end", OWNER_ONLY),
        Row("POST", f"courses/{w['open_course']}/enrollments", (401, OK, OK, 403, 403, OK)),
        # takedowns of a course and a material of their own, each restored by the next row
        Row("POST", f"admin/courses/{w['takedown_course']}/takedown", ADMIN_ONLY, {"reason": "matrix check"}),
        Row("DELETE", f"admin/courses/{w['takedown_course']}/takedown", ADMIN_ONLY),
        Row("POST", f"admin/materials/{w['takedown_material']}/takedown", ADMIN_ONLY, {"reason": "matrix check"}),
        Row("DELETE", f"admin/materials/{w['takedown_material']}/takedown", ADMIN_ONLY),
        # each role deletes a material of its own, so an allowed delete does not turn the
        # next role's call into a 404
        Row("DELETE", lambda role: f"materials/{w['deletable'][role]}", MANAGERS),
        Row("DELETE", lambda role: f"lessons/{w['deletable_lessons'][role]}", MANAGERS),
        Row("DELETE", lambda role: f"quizzes/{w['deletable_quizzes'][role]}", MANAGERS),
        # leaving the free course the row above enrolled the students and the admin in;
        # the tutors were never enrolled there
        Row("DELETE", f"courses/{w['open_course']}/enrollments/me", (401, OK, OK, 404, 404, OK)),
        # each role erases a user of its own (the admin's erasure of one would turn the
        # next call into a repeat, which is fine, but keep the targets apart), and erases
        # itself as a stand-in of its role, not the world's person
        Row("DELETE", lambda role: f"admin/users/{w['erasable'][role].user_id}", ADMIN_ONLY),
        Row("DELETE", "me", SIGNED_IN, caller="erasers"),
    ]


@pytest.fixture(scope="module")
async def world(api):
    from tests.support.actors import new_actor

    owner, tutor, admin = await new_actor(api, "tutor"), await new_actor(api, "tutor"), await new_actor(api, "admin")
    enrolled, other = await new_actor(api, "student"), await new_actor(api, "student")
    course = await create_course(api, owner)
    lesson = await add_lesson(api, owner, course["id"], title="Video")
    quiz_lesson = await add_lesson(api, owner, course["id"], title="Quiz", kind="quiz")
    quiz = (await api.post("quizzes", headers=owner.headers, json={
        "lessonId": quiz_lesson["id"], "title": "Q", "maxAttempts": 10,
        "questions": [{"prompt": "1+1?", "options": ["1", "2"], "correct": [1], "points": 1}]})).json()
    await publish(api, owner, course["id"])
    material = await upload_material(api, owner, course["id"], b"%PDF-1.4 x", file_name="m.pdf",
                                     content_type="application/pdf")
    assert (await api.post(f"materials/{material['materialId']}/publish", headers=owner.headers)).status_code == 200
    await enrol(api, enrolled, course["id"])
    other_course = await create_course(api, tutor)
    await publish(api, tutor, other_course["id"])
    await enrol(api, other, other_course["id"])
    klass = await create_class(api, owner, course["id"])
    await start_class(api, owner, klass["id"])
    poll = (await api.post(f"classes/{klass['id']}/polls", headers=owner.headers,
                           json={"question": "Ready?", "options": ["yes", "no"]})).json()
    spare = await create_class(api, owner, course["id"])
    open_course = await create_course(api, owner)
    await publish(api, owner, open_course["id"])
    takedown_course = await create_course(api, owner)
    await publish(api, owner, takedown_course["id"])
    takedown_material = await upload_material(api, owner, takedown_course["id"], b"%PDF-1.4 t", file_name="t.pdf",
                                              content_type="application/pdf")
    deletable = {}
    for role in ROLES:
        spare_material = await upload_material(api, owner, course["id"], b"%PDF-1.4 spare", file_name="spare.pdf",
                                               content_type="application/pdf")
        deletable[role] = spare_material["materialId"]
    deletable_lessons = {role: (await add_lesson(api, owner, course["id"], title=f"Spare {role}", kind="document"))["id"]
                         for role in ROLES}
    deletable_quizzes = {}
    for role in ROLES:
        spare_quiz = await api.post("quizzes", headers=owner.headers, json={
            "lessonId": quiz_lesson["id"], "title": f"Spare {role}",
            "questions": [{"prompt": "2+2?", "options": ["3", "4"], "correct": [1], "points": 1}]})
        assert spare_quiz.status_code == 201, spare_quiz.text
        deletable_quizzes[role] = spare_quiz.json()["id"]
    ended = await create_class(api, owner, course["id"])
    await end_class(api, owner, ended["id"])
    recording = await register_video(api, owner, title="Recording")
    attached = await api.put(f"classes/{ended['id']}/recording", json={"videoAssetId": recording["id"]}, headers=owner.headers)
    assert attached.status_code == 200, attached.text
    # A course of one quiz lesson the enrolled student passes: a certificate to verify and download.
    certified = await create_course(api, owner)
    _, certified_quiz = await add_quiz_lesson(api, owner, certified["id"])
    await publish(api, owner, certified["id"])
    await enrol(api, enrolled, certified["id"])
    await attempt(api, enrolled, certified_quiz["id"], ALL_RIGHT, "matrix-certificate")
    certificate = await rendered_certificate(api, enrolled, certified["id"])
    people = {"anonymous": None, "enrolled": enrolled, "other_student": other, "tutor": tutor, "owner": owner, "admin": admin}
    erasable = {role: await new_actor(api, "student") for role in ROLES}
    erasers = {"anonymous": None, **{role: await new_actor(api, *(people[role].roles)) for role in ROLES[1:]}}
    return people, {
        "course": course["id"], "lesson": lesson["id"], "quiz": quiz["id"], "quiz_lesson": quiz_lesson["id"],
        "material": material["materialId"], "klass": klass["id"], "poll": poll["id"], "spare_class": spare["id"],
        "open_course": open_course["id"], "enrolled_id": enrolled.user_id, "other_id": other.user_id,
        "deletable": deletable, "deletable_lessons": deletable_lessons,
        "deletable_quizzes": deletable_quizzes, "ended_class": ended["id"],
        "recording": recording["id"], "erasable": erasable, "erasers": erasers,
        "takedown_course": takedown_course["id"], "takedown_material": takedown_material["materialId"],
        "certificate": certificate["code"],
    }


async def test_every_endpoint_answers_each_role_as_the_contract_says(api, world):
    people, ids = world
    mismatches = []
    cells = 0
    for row in rows(ids):
        for role, expected in zip(ROLES, row.expect, strict=False):
            who = ids[row.caller][role] if row.caller else people[role]
            headers = dict(row.headers or {})
            if who is not None:
                headers["Authorization"] = f"Bearer {who.token}"
            if "Idempotency-Key" in headers:
                headers["Idempotency-Key"] = f"matrix-{role}-{uuid.uuid4().hex[:8]}"
            path = row.path(role) if callable(row.path) else row.path
            resp = await api.request(row.method, path, json=row.body, headers=headers, params=row.params)
            cells += 1
            allowed = 200 <= resp.status_code < 300 or resp.status_code in (409, 422)
            if (expected == OK and not allowed) or (expected != OK and resp.status_code != expected):
                mismatches.append(f"{row.method} /api/{path} as {role}: expected {expected}, got {resp.status_code}")
            if resp.status_code >= 400:
                assert resp.headers["content-type"].startswith("application/problem+json"), path
    print(f"authorization matrix: {cells} calls")
    assert not mismatches, "\n".join(mismatches)


async def test_a_student_of_another_course_has_every_synced_event_refused(api, world):
    people, ids = world
    event = {"lessonId": ids["lesson"], "positionSeconds": 5, "watchedSeconds": 5, "durationSeconds": 600,
             "clientTime": datetime.now(UTC).isoformat()}
    outsider = await api.post("progress/sync", json={"events": [event]}, headers=people["other_student"].headers)
    assert outsider.status_code == 200, outsider.text
    assert outsider.json()["accepted"] == [] and len(outsider.json()["refused"]) == 1
    assert "not enrolled" in outsider.json()["refused"][0]["reason"]
    member = await api.post("progress/sync", json={"events": [event]}, headers=people["enrolled"].headers)
    assert member.json()["accepted"] == [0] and member.json()["refused"] == []


def _template(route: str) -> re.Pattern[str]:
    """A host route template (`courses/{courseId}`, `{id:guid}`) as a pattern for one path."""
    parts = re.split(r"(\{[^}]*\})", route)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def test_every_registered_route_has_a_row_in_the_matrix():
    """The list of endpoints comes from the app's own function index, so a new route
    without a row fails here instead of passing unnoticed."""
    placeholder_ids: dict[str, Any] = defaultdict(lambda: str(uuid.uuid4()))
    placeholder_ids["deletable"] = defaultdict(lambda: str(uuid.uuid4()))
    placeholder_ids["deletable_lessons"] = defaultdict(lambda: str(uuid.uuid4()))
    placeholder_ids["deletable_quizzes"] = defaultdict(lambda: str(uuid.uuid4()))
    placeholder_ids["erasable"] = defaultdict(lambda: type("Someone", (), {"user_id": str(uuid.uuid4())})())
    table = [replace(r, path=r.path("owner")) if callable(r.path) else r for r in rows(placeholder_ids)]
    missing = []
    for function in lectern_functions():
        if function.trigger_type != HTTP_TRIGGER or function.name in NOT_ENDPOINTS:
            continue
        pattern = _template(function.trigger["route"])
        for method in function.trigger.get("methods") or ["GET"]:
            if not any(r.method == method.upper() and pattern.fullmatch(r.path) for r in table):
                missing.append(f"{method.upper()} /api/{function.trigger['route']} ({function.name})")
    assert not missing, "routes without a row in the authorization matrix:\n" + "\n".join(missing)
