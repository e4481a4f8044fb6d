"""Video assets: a lesson may show only a video its course's tutor registered, and playback
signs the registered asset; the registry also supplies a lesson's duration."""

from __future__ import annotations

import pytest

from shared_code.services.content.playback import verify_playback_url
from shared_code.settings import Settings
from tests.support.content import add_lesson, audit_rows, create_course, enrol, publish, register_video


@pytest.fixture(scope="module")
def app_settings(stack) -> Settings:
    return Settings()


async def test_registering_a_video_returns_it_owned_by_the_caller(api, actor):
    tutor = await actor("tutor")
    resp = await api.post("videos", json={"title": "Intro", "durationSeconds": 420, "provider": "mux"}, headers=tutor.headers)
    assert resp.status_code == 201, resp.text
    video = resp.json()
    assert video["ownerId"] == tutor.user_id and video["durationSeconds"] == 420 and video["provider"] == "mux"
    assert video["playbackId"] and video["id"]


async def test_a_tutor_lists_their_own_videos_newest_first_page_by_page(api, actor):
    tutor, rival, student = await actor("tutor"), await actor("tutor"), await actor("student")
    titles = ["Week 1", "Week 2", "Week 3"]
    for title in titles:
        await register_video(api, tutor, title=title)
    await register_video(api, rival, title="Not yours")

    first = await api.get("videos", params={"limit": 2}, headers=tutor.headers)
    assert first.status_code == 200, first.text
    assert [v["title"] for v in first.json()["items"]] == ["Week 3", "Week 2"]
    rest = await api.get("videos", params={"limit": 2, "cursor": first.json()["nextCursor"]}, headers=tutor.headers)
    assert [v["title"] for v in rest.json()["items"]] == ["Week 1"] and rest.json()["nextCursor"] is None
    assert all(v["ownerId"] == tutor.user_id for v in first.json()["items"] + rest.json()["items"])

    assert [v["title"] for v in (await api.get("videos", headers=rival.headers)).json()["items"]] == ["Not yours"]
    assert (await api.get("videos", headers=student.headers)).status_code == 403
    forged = await api.get("videos", params={"cursor": "not-a-cursor"}, headers=tutor.headers)
    assert forged.status_code == 400 and forged.headers["content-type"].startswith("application/problem+json")


async def test_students_cannot_register_videos_and_bad_bodies_are_refused(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    assert (await api.post("videos", json={"title": "x"}, headers=student.headers)).status_code == 403
    assert (await api.post("videos", json={"title": "x"})).status_code == 401
    for body in ({}, {"title": ""}, {"title": "x", "durationSeconds": 0}, {"title": "x", "provider": "youtube"},
                 {"title": "x", "ownerId": tutor.user_id}):
        resp = await api.post("videos", json=body, headers=tutor.headers)
        assert resp.status_code == 400, (body, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")


async def test_tutor_cannot_put_another_tutors_video_on_a_lesson(api, actor):
    tutor_a, tutor_b = await actor("tutor"), await actor("tutor")
    video_of_a = await register_video(api, tutor_a)
    course_of_b = await create_course(api, tutor_b)
    resp = await api.post(
        f"courses/{course_of_b['id']}/lessons",
        json={"title": "Borrowed", "kind": "video", "videoAssetId": video_of_a["id"]},
        headers=tutor_b.headers,
    )
    assert resp.status_code == 403, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    detail = (await api.get(f"courses/{course_of_b['id']}", headers=tutor_b.headers)).json()
    assert detail["lessons"] == []


async def test_an_admin_may_put_any_registered_video_on_any_course(api, actor):
    tutor_a, tutor_b, admin = await actor("tutor"), await actor("tutor"), await actor("admin")
    video_of_a = await register_video(api, tutor_a, duration_seconds=90)
    course_of_b = await create_course(api, tutor_b)
    resp = await api.post(
        f"courses/{course_of_b['id']}/lessons",
        json={"title": "Curated", "kind": "video", "videoAssetId": video_of_a["id"]},
        headers=admin.headers,
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["videoAssetId"] == video_of_a["id"] and resp.json()["durationSeconds"] == 90


async def test_an_unregistered_video_id_is_refused(api, actor):
    tutor = await actor("tutor")
    course = await create_course(api, tutor)
    for asset in ("made-up-asset", "6f1c2b1e-6c1f-4f8e-9a44-0a00000000ff"):
        resp = await api.post(f"courses/{course['id']}/lessons", json={"title": "x", "kind": "video", "videoAssetId": asset},
                              headers=tutor.headers)
        assert resp.status_code == 422, resp.text
        assert resp.json()["errors"][0]["field"] == "videoAssetId"


async def test_a_video_bound_to_one_course_stays_there(api, actor):
    tutor = await actor("tutor")
    first, second = await create_course(api, tutor), await create_course(api, tutor)
    bound = await register_video(api, tutor, courseId=first["id"])
    assert bound["courseId"] == first["id"]
    ok = await api.post(f"courses/{first['id']}/lessons", json={"title": "a", "kind": "video", "videoAssetId": bound["id"]},
                        headers=tutor.headers)
    assert ok.status_code == 201, ok.text
    elsewhere = await api.post(f"courses/{second['id']}/lessons",
                               json={"title": "b", "kind": "video", "videoAssetId": bound["id"]}, headers=tutor.headers)
    assert elsewhere.status_code == 403


async def test_a_tutor_cannot_bind_a_video_to_another_tutors_course(api, actor):
    owner, other = await actor("tutor"), await actor("tutor")
    course = await create_course(api, owner)
    await publish(api, owner, course["id"])
    resp = await api.post("videos", json={"title": "x", "courseId": course["id"]}, headers=other.headers)
    assert resp.status_code == 403, resp.text


async def test_a_video_lesson_without_a_duration_takes_the_registered_one(api, actor):
    tutor = await actor("tutor")
    course = await create_course(api, tutor)
    video = await register_video(api, tutor, duration_seconds=754)
    lesson = await add_lesson(api, tutor, course["id"], videoAssetId=video["id"], durationSeconds=None)
    assert lesson["durationSeconds"] == 754
    stored = (await api.get(f"lessons/{lesson['id']}", headers=tutor.headers)).json()
    assert stored["durationSeconds"] == 754
    # A duration the tutor states still wins over the registry's.
    stated = await add_lesson(api, tutor, course["id"], videoAssetId=video["id"], durationSeconds=700)
    assert stated["durationSeconds"] == 700


async def test_playback_of_an_own_registered_video_signs_its_playback_id(api, actor, app_settings):
    tutor, student = await actor("tutor"), await actor("student")
    course = await create_course(api, tutor)
    video = await register_video(api, tutor)
    lesson = await add_lesson(api, tutor, course["id"], videoAssetId=video["id"])
    await publish(api, tutor, course["id"])
    await enrol(api, student, course["id"])
    for who in (tutor, student):
        resp = await api.get(f"lessons/{lesson['id']}/playback", headers=who.headers)
        assert resp.status_code == 200, resp.text
        grant = verify_playback_url(resp.json()["url"], signing_key=app_settings.video_signing_key.get_secret_value(),
                                    base_url=app_settings.video_cdn_base_url)
        assert grant.asset_id == video["playbackId"] and grant.viewer_id == who.user_id


async def test_adding_a_lesson_leaves_an_audit_row_with_what_was_added(api, actor):
    tutor, admin = await actor("tutor"), await actor("admin")
    course = await create_course(api, tutor)
    video = await register_video(api, tutor, duration_seconds=321)
    lesson = await add_lesson(api, tutor, course["id"], title="Audited", videoAssetId=video["id"], durationSeconds=None)

    rows = await audit_rows(api, admin, tutor, "lesson.added")
    assert len(rows) == 1 and rows[0]["target"] == f"lesson/{lesson['id']}"
    details = rows[0]["details"]
    assert details["courseId"] == course["id"] and details["before"] is None
    assert details["after"]["title"] == "Audited" and details["after"]["durationSeconds"] == 321
    assert details["after"]["videoAssetId"] == video["id"]


async def test_a_lesson_edit_is_checked_like_a_create_and_audited_with_before_and_after(api, actor):
    tutor, other_tutor, admin = await actor("tutor"), await actor("tutor"), await actor("admin")
    course = await create_course(api, tutor)
    first, second = await register_video(api, tutor), await register_video(api, tutor, duration_seconds=480)
    lesson = await add_lesson(api, tutor, course["id"], title="Draft title", videoAssetId=first["id"])
    foreign = await register_video(api, other_tutor)
    await publish(api, tutor, course["id"])

    borrowed = await api.patch(f"lessons/{lesson['id']}", json={"videoAssetId": foreign["id"]}, headers=tutor.headers)
    assert borrowed.status_code == 403, borrowed.text
    assert (await api.patch(f"lessons/{lesson['id']}", json={"title": "x"}, headers=other_tutor.headers)).status_code == 403
    unknown = await api.patch(f"lessons/{lesson['id']}", json={"videoAssetId": "not-registered"}, headers=tutor.headers)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "videoAssetId"

    edited = await api.patch(f"lessons/{lesson['id']}", json={"title": "Final title", "videoAssetId": second["id"]},
                             headers=tutor.headers)
    assert edited.status_code == 200, edited.text
    assert edited.json()["title"] == "Final title" and edited.json()["videoAssetId"] == second["id"]
    assert edited.json()["durationSeconds"] == 600  # the tutor's own duration stays
    detail = (await api.get(f"courses/{course['id']}", headers=tutor.headers)).json()
    assert detail["lessons"][0]["title"] == "Final title"

    rows = await audit_rows(api, admin, tutor, "lesson.updated")
    assert len(rows) == 1 and rows[0]["target"] == f"lesson/{lesson['id']}"
    assert rows[0]["details"]["before"] == {"title": "Draft title", "videoAssetId": first["id"]}
    assert rows[0]["details"]["after"] == {"title": "Final title", "videoAssetId": second["id"]}


async def test_a_document_lesson_cannot_be_given_a_video(api, actor):
    tutor = await actor("tutor")
    course = await create_course(api, tutor)
    document = await add_lesson(api, tutor, course["id"], kind="document")
    video = await register_video(api, tutor)
    resp = await api.patch(f"lessons/{document['id']}", json={"videoAssetId": video["id"]}, headers=tutor.headers)
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "videoAssetId"
