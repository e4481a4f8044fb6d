"""Courses and lessons through the HTTP API: build, publish, read, page, and who may do what."""

from __future__ import annotations

import uuid

from tests.support.content import add_lesson, create_course, enrol, eventually, publish, published_course


async def test_tutor_builds_and_publishes_a_course_that_an_enrolled_student_reads(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course = await create_course(api, tutor, title="Statistics from scratch")
    assert course["published"] is False and course["ownerId"] == tutor.user_id
    assert set(course) >= {"id", "title", "description", "priceCents", "published", "ownerId", "createdAt", "updatedAt"}

    # A draft does not exist for students.
    assert (await api.get(f"courses/{course['id']}", headers=student.headers)).status_code == 404

    first = await add_lesson(api, tutor, course["id"], title="Means")
    await add_lesson(api, tutor, course["id"], title="Reading list", kind="document")
    quiz = await add_lesson(api, tutor, course["id"], title="Check yourself", kind="quiz")
    intro = await add_lesson(api, tutor, course["id"], title="Intro", kind="document", position=0)
    assert intro["position"] == 0 and first["videoAssetId"]

    published = await publish(api, tutor, course["id"])
    assert published["published"] is True and published["publishedAt"]

    detail = (await api.get(f"courses/{course['id']}", headers=student.headers)).json()
    assert [lesson["title"] for lesson in detail["lessons"]] == ["Intro", "Means", "Reading list", "Check yourself"]
    assert [lesson["position"] for lesson in detail["lessons"]] == [0, 1, 2, 3]
    # Students see that a lesson has a video, never the raw asset id (only the signed URL plays).
    assert all(lesson["videoAssetId"] is None for lesson in detail["lessons"])
    assert detail["lessons"][1]["hasVideo"] is True

    # Reading a lesson needs enrolment.
    assert (await api.get(f"lessons/{quiz['id']}", headers=student.headers)).status_code == 403
    await enrol(api, student, course["id"])
    lesson = await api.get(f"lessons/{quiz['id']}", headers=student.headers)
    assert lesson.status_code == 200 and lesson.json()["kind"] == "quiz" and lesson.json()["position"] == 3


async def test_publishing_is_audited(api, actor):
    tutor, admin = await actor("tutor"), await actor("admin")
    course, _ = await published_course(api, tutor)

    async def audited():
        resp = await api.get("admin/audit", params={"actor": tutor.user_id, "action": "course.published"}, headers=admin.headers)
        assert resp.status_code == 200, resp.text
        items = [i for i in resp.json()["items"] if i["target"] == f"course/{course['id']}"]
        return items or None

    assert (await eventually(audited))[0]["actorId"] == tutor.user_id


async def test_student_sees_an_edit_and_a_new_lesson_immediately_after_the_tutors_response(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course, lesson = await published_course(api, tutor)
    await enrol(api, student, course["id"])
    for _ in range(2):  # warm the cache
        assert (await api.get(f"courses/{course['id']}", headers=student.headers)).json()["title"] == course["title"]
        await api.get(f"lessons/{lesson['id']}", headers=student.headers)

    resp = await api.patch(f"courses/{course['id']}", json={"title": "Renamed", "description": "New words"}, headers=tutor.headers)
    assert resp.status_code == 200
    seen = (await api.get(f"courses/{course['id']}", headers=student.headers)).json()
    assert (seen["title"], seen["description"]) == ("Renamed", "New words")

    await add_lesson(api, tutor, course["id"], title="Inserted first", kind="document", position=0)
    assert (await api.get(f"lessons/{lesson['id']}", headers=student.headers)).json()["position"] == 1
    titles = [x["title"] for x in (await api.get(f"courses/{course['id']}", headers=student.headers)).json()["lessons"]]
    assert titles == ["Inserted first", "Welcome"]


async def test_a_draft_becomes_visible_the_moment_it_is_published(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    course = await create_course(api, tutor)
    await add_lesson(api, tutor, course["id"])
    for _ in range(2):
        assert (await api.get(f"courses/{course['id']}", headers=student.headers)).status_code == 404
        assert (await api.get(f"courses/{course['id']}", headers=tutor.headers)).status_code == 200  # warms the cache
    await publish(api, tutor, course["id"])
    assert (await api.get(f"courses/{course['id']}", headers=student.headers)).status_code == 200


async def test_course_lists_page_with_cursors_and_respect_visibility(api, actor):
    tutor, other_tutor, student, admin = await actor("tutor"), await actor("tutor"), await actor("student"), await actor("admin")
    drafts = [await create_course(api, tutor, title=f"Draft {i}") for i in range(3)]
    draft_ids = [d["id"] for d in drafts]

    async def walk(viewer, *, pages: int = 10) -> tuple[list[str], int]:
        seen: list[str] = []
        cursor, walked = None, 0
        while walked < pages:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            resp = await api.get("courses", params=params, headers=viewer.headers)
            assert resp.status_code == 200, resp.text
            body = resp.json()
            assert len(body["items"]) <= 2
            seen += [c["id"] for c in body["items"]]
            walked += 1
            cursor = body["nextCursor"]
            if cursor is None or set(draft_ids) <= set(seen):
                break
        return seen, walked

    seen, walked = await walk(tutor)
    assert len(seen) == len(set(seen)), "a row repeated across pages"
    assert walked >= 2, "three drafts cannot fit on one page of two"
    assert [i for i in seen if i in draft_ids] == list(reversed(draft_ids)), "newest first"
    seen, _ = await walk(admin)
    assert [i for i in seen if i in draft_ids] == list(reversed(draft_ids))

    for viewer in (student, other_tutor):
        listing = (await api.get("courses", params={"limit": 200}, headers=viewer.headers)).json()
        assert not set(draft_ids) & {c["id"] for c in listing["items"]}
        assert all(c["published"] or c["ownerId"] == viewer.user_id for c in listing["items"])

    bad = await api.get("courses", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=student.headers)
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem+json")
    assert (await api.get("courses", params={"limit": 500}, headers=student.headers)).status_code == 400


async def test_only_the_owning_tutor_or_an_admin_may_edit_or_add_lessons(api, actor):
    tutor, other_tutor, student, admin = await actor("tutor"), await actor("tutor"), await actor("student"), await actor("admin")
    course, _ = await published_course(api, tutor)
    patch = {"title": "Hijacked"}
    assert (await api.patch(f"courses/{course['id']}", json=patch, headers=other_tutor.headers)).status_code == 403
    assert (await api.patch(f"courses/{course['id']}", json=patch, headers=student.headers)).status_code == 403
    lesson = {"title": "x", "kind": "document"}
    assert (await api.post(f"courses/{course['id']}/lessons", json=lesson, headers=other_tutor.headers)).status_code == 403
    assert (await api.post("courses", json={"title": "Mine", "description": ""}, headers=student.headers)).status_code == 403
    resp = await api.patch(f"courses/{course['id']}", json={"priceCents": 1500}, headers=admin.headers)
    assert resp.status_code == 200 and resp.json()["priceCents"] == 1500

    # Another tutor's draft is invisible, not forbidden.
    draft = await create_course(api, tutor)
    assert (await api.patch(f"courses/{draft['id']}", json=patch, headers=other_tutor.headers)).status_code == 404


async def test_bad_course_and_lesson_input_is_refused_with_field_details(api, actor):
    tutor = await actor("tutor")
    missing = await api.post("courses", json={"description": "no title"}, headers=tutor.headers)
    assert missing.status_code == 400 and missing.json()["errors"][0]["field"] == "title"
    unknown = await api.post("courses", json={"title": "t", "colour": "red"}, headers=tutor.headers)
    assert unknown.status_code == 400
    course = await create_course(api, tutor)
    wrong_kind = await api.post(f"courses/{course['id']}/lessons", json={"title": "t", "kind": "podcast"}, headers=tutor.headers)
    assert wrong_kind.status_code == 400
    asset_on_document = await api.post(
        f"courses/{course['id']}/lessons", json={"title": "t", "kind": "document", "videoAssetId": "abc"}, headers=tutor.headers
    )
    assert asset_on_document.status_code == 422
    assert asset_on_document.json()["errors"][0]["field"] == "videoAssetId"
    unsafe_asset = await api.post(
        f"courses/{course['id']}/lessons", json={"title": "t", "kind": "video", "videoAssetId": "../x"}, headers=tutor.headers
    )
    assert unsafe_asset.status_code == 400
    assert (await api.get(f"courses/{uuid.uuid4()}", headers=tutor.headers)).status_code == 404
    assert (await api.get("courses/not-a-uuid", headers=tutor.headers)).status_code == 404


async def test_creating_a_course_with_an_idempotency_key_twice_makes_one_course(api, actor):
    tutor = await actor("tutor")
    key = {"Idempotency-Key": f"create-{uuid.uuid4()}"}
    body = {"title": "Once", "description": "only once"}
    first = await api.post("courses", json=body, headers={**tutor.headers, **key})
    again = await api.post("courses", json=body, headers={**tutor.headers, **key})
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    other = await api.post("courses", json={**body, "title": "Other"}, headers={**tutor.headers, **key})
    assert other.status_code == 409


async def test_a_caller_without_a_token_is_refused_everywhere(api, actor):
    tutor = await actor("tutor")
    course, lesson = await published_course(api, tutor)
    for method, path in [
        ("GET", "courses"),
        ("POST", "courses"),
        ("GET", f"courses/{course['id']}"),
        ("PATCH", f"courses/{course['id']}"),
        ("GET", f"lessons/{lesson['id']}"),
        ("GET", f"lessons/{lesson['id']}/playback"),
        ("GET", f"courses/{course['id']}/materials"),
        ("POST", f"courses/{course['id']}/enrollments"),
    ]:
        resp = await api.request(method, path, json={} if method != "GET" else None)
        assert resp.status_code == 401, (method, path, resp.status_code)
        assert resp.headers["content-type"].startswith("application/problem+json")
