"""Class recordings on the local stack: the tutor attaches a registered video to an ended
class; the course's students, its tutor and admins get a signed playback URL the CDN edge
accepts; nobody attaches someone else's video or plays a course they are not in."""

from __future__ import annotations

import uuid

import pytest

from shared_code.services.content.playback import verify_playback_url
from shared_code.settings import Settings
from tests.support.content import enrol, eventually, published_course, register_video
from tests.support.live import create_class, end_class, start_class

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def app_settings(stack) -> Settings:
    return Settings()


async def attach(api, who, class_id: str, asset_id: str):
    return await api.put(f"classes/{class_id}/recording", json={"videoAssetId": asset_id}, headers=who.headers)


async def test_an_ended_class_takes_a_recording_that_its_students_play_through_a_signed_url(api, actor, app_settings):
    tutor, student, admin = await actor("tutor"), await actor("student"), await actor("admin")
    course, _ = await published_course(api, tutor)
    await enrol(api, student, course["id"])
    klass = await create_class(api, tutor, course["id"])
    assert klass["hasRecording"] is False
    await start_class(api, tutor, klass["id"])
    await end_class(api, tutor, klass["id"])
    video = await register_video(api, tutor, title="Recording")

    attached = await attach(api, tutor, klass["id"], video["id"])
    assert attached.status_code == 200, attached.text
    assert attached.json()["hasRecording"] is True and "recordingAssetId" not in attached.json()
    shown = await api.get(f"classes/{klass['id']}", headers=student.headers)
    assert shown.json()["hasRecording"] is True
    listed = await api.get("classes", params={"courseId": course["id"]}, headers=student.headers)
    assert [c["hasRecording"] for c in listed.json()["items"]] == [True]

    for viewer in (student, tutor, admin):
        played = await api.get(f"classes/{klass['id']}/recording/playback", headers=viewer.headers)
        assert played.status_code == 200, played.text
        grant = verify_playback_url(
            played.json()["url"], signing_key=app_settings.video_signing_key.get_secret_value(),
            base_url=app_settings.video_cdn_base_url,
        )
        assert grant.asset_id == video["playbackId"] and grant.viewer_id == viewer.user_id

    audit = await eventually(lambda: _audit(api, admin, tutor))
    assert audit[0]["details"]["before"] == {"videoAssetId": None}
    assert audit[0]["details"]["after"] == {"videoAssetId": video["id"]}


async def _audit(api, admin, tutor):
    resp = await api.get("admin/audit", params={"actor": tutor.user_id, "action": "class.recording.attached"},
                         headers=admin.headers)
    return resp.json()["items"] or None


async def test_a_class_that_has_not_ended_takes_no_recording(api, actor):
    tutor = await actor("tutor")
    course, _ = await published_course(api, tutor)
    klass = await create_class(api, tutor, course["id"])
    video = await register_video(api, tutor)
    scheduled = await attach(api, tutor, klass["id"], video["id"])
    assert scheduled.status_code == 422, scheduled.text
    await start_class(api, tutor, klass["id"])
    live = await attach(api, tutor, klass["id"], video["id"])
    assert live.status_code == 422, live.text
    assert (await api.get(f"classes/{klass['id']}", headers=tutor.headers)).json()["hasRecording"] is False
    nothing = await api.get(f"classes/{klass['id']}/recording/playback", headers=tutor.headers)
    assert nothing.status_code == 422


async def test_nobody_attaches_another_tutor_s_video_or_records_another_tutor_s_class(api, actor):
    tutor, rival, student = await actor("tutor"), await actor("tutor"), await actor("student")
    course, _ = await published_course(api, tutor)
    await enrol(api, student, course["id"])
    klass = await create_class(api, tutor, course["id"])
    await end_class(api, tutor, klass["id"])
    rivals_video = await register_video(api, rival, title="Not yours")
    own_video = await register_video(api, tutor)

    stolen = await attach(api, tutor, klass["id"], rivals_video["id"])
    assert stolen.status_code == 403, stolen.text
    unknown = await attach(api, tutor, klass["id"], str(uuid.uuid4()))
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "videoAssetId"
    # The rival and a student, with assets of their own or the tutor's, may not touch the class.
    assert (await attach(api, rival, klass["id"], rivals_video["id"])).status_code == 403
    assert (await attach(api, student, klass["id"], own_video["id"])).status_code == 403
    assert (await api.get(f"classes/{klass['id']}", headers=tutor.headers)).json()["hasRecording"] is False


async def test_a_student_of_another_course_cannot_play_the_recording(api, actor):
    tutor, outsider, rival = await actor("tutor"), await actor("student"), await actor("tutor")
    course, _ = await published_course(api, tutor)
    other_course, _ = await published_course(api, rival)
    await enrol(api, outsider, other_course["id"])
    klass = await create_class(api, tutor, course["id"])
    await end_class(api, tutor, klass["id"])
    video = await register_video(api, tutor)
    assert (await attach(api, tutor, klass["id"], video["id"])).status_code == 200

    for stranger in (outsider, rival):
        refused = await api.get(f"classes/{klass['id']}/recording/playback", headers=stranger.headers)
        assert refused.status_code == 403, refused.text
    assert (await api.get(f"classes/{klass['id']}/recording/playback")).status_code == 401


async def test_the_tutor_removes_a_recording_and_its_students_can_no_longer_play_it(api, actor):
    tutor, student, rival, admin = await actor("tutor"), await actor("student"), await actor("tutor"), await actor("admin")
    course, _ = await published_course(api, tutor)
    await enrol(api, student, course["id"])
    klass = await create_class(api, tutor, course["id"])
    await end_class(api, tutor, klass["id"])
    video = await register_video(api, tutor, title="Wrong take")
    assert (await attach(api, tutor, klass["id"], video["id"])).status_code == 200

    # Neither a student of the course nor another tutor may take it off.
    for who in (student, rival):
        refused = await api.delete(f"classes/{klass['id']}/recording", headers=who.headers)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    removed = await api.delete(f"classes/{klass['id']}/recording", headers=tutor.headers)
    assert removed.status_code == 204, removed.text
    assert (await api.get(f"classes/{klass['id']}", headers=student.headers)).json()["hasRecording"] is False
    gone = await api.get(f"classes/{klass['id']}/recording/playback", headers=student.headers)
    assert gone.status_code == 422 and "no recording" in gone.json()["detail"]
    # A repeat (a retried request) changes nothing and is not audited again.
    assert (await api.delete(f"classes/{klass['id']}/recording", headers=admin.headers)).status_code == 204
    # The video itself stays registered: the tutor can attach it again.
    assert (await attach(api, tutor, klass["id"], video["id"])).status_code == 200

    async def removals(by) -> list[dict]:
        resp = await api.get("admin/audit", params={"actor": by.user_id, "action": "class.recording.removed"},
                             headers=admin.headers)
        assert resp.status_code == 200, resp.text
        return [row for row in resp.json()["items"] if row["target"] == f"class/{klass['id']}"]

    assert await removals(admin) == []
    audited = await removals(tutor)
    assert len(audited) == 1
    assert audited[0]["details"]["before"] == {"videoAssetId": video["id"]}
    assert audited[0]["details"]["after"] == {"videoAssetId": None}
