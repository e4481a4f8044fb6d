"""Video playback: signed CDN URLs for members only, verified the way the CDN edge would, and logged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables.aio import TableClient

from shared_code.services.content.playback import PlaybackRefused, verify_playback_url
from shared_code.settings import Settings
from tests.support.content import add_lesson, create_course, enrol, published_course


@pytest.fixture(scope="module")
def app_settings(stack) -> Settings:
    """The settings the host runs with (the stack put its environment into os.environ)."""
    return Settings()


async def access_rows(stack, settings: Settings, course_id: str, target_id: str) -> list[dict] | None:
    partition = f"{course_id}_{datetime.now(UTC):%Y%m%d}"
    async with TableClient.from_connection_string(stack.storage_connection_string, settings.access_log_table) as table:
        rows = [
            dict(e)
            async for e in table.query_entities(
                "PartitionKey eq @pk and targetId eq @target", parameters={"pk": partition, "target": target_id}
            )
        ]
    return rows or None


async def test_enrolled_student_gets_a_signed_url_the_cdn_accepts_and_the_access_is_logged(api, actor, stack, app_settings):
    tutor, student = await actor("tutor"), await actor("student")
    course, lesson = await published_course(api, tutor)
    await enrol(api, student, course["id"])

    resp = await api.get(f"lessons/{lesson['id']}/playback", headers={**student.headers, "User-Agent": "e2e-player/1.0"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    grant = verify_playback_url(
        body["url"], signing_key=app_settings.video_signing_key.get_secret_value(), base_url=app_settings.video_cdn_base_url
    )
    assert grant.asset_id == lesson["videoAssetId"] and grant.viewer_id == student.user_id
    expires_at = datetime.fromisoformat(body["expiresAt"])
    assert grant.expires_at == expires_at
    assert timedelta(0) < expires_at - datetime.now(UTC) <= timedelta(minutes=app_settings.video_url_minutes)
    with pytest.raises(PlaybackRefused):
        verify_playback_url(
            body["url"],
            signing_key=app_settings.video_signing_key.get_secret_value(),
            base_url=app_settings.video_cdn_base_url,
            now=expires_at.timestamp() + 1,
        )
    with pytest.raises(PlaybackRefused):
        verify_playback_url(body["url"], signing_key="another-key-another-key-another-key", base_url=app_settings.video_cdn_base_url)

    # Recorded before the link was handed out: the row is there as soon as the answer is.
    rows = await access_rows(stack, app_settings, course["id"], lesson["id"])
    assert rows, "the access row is written before the playback URL is answered"
    assert rows[0]["userId"] == student.user_id and rows[0]["kind"] == "playback"
    assert rows[0]["userAgent"] == "e2e-player/1.0"


async def test_the_owning_tutor_and_admins_may_play_too(api, actor, app_settings):
    tutor, admin = await actor("tutor"), await actor("admin")
    _, lesson = await published_course(api, tutor)
    for who in (tutor, admin):
        resp = await api.get(f"lessons/{lesson['id']}/playback", headers=who.headers)
        assert resp.status_code == 200
        grant = verify_playback_url(resp.json()["url"], signing_key=app_settings.video_signing_key.get_secret_value(),
                                    base_url=app_settings.video_cdn_base_url)
        assert grant.viewer_id == who.user_id


async def test_student_of_another_course_and_other_tutors_get_no_playback(api, actor):
    tutor, student, other_tutor = await actor("tutor"), await actor("student"), await actor("tutor")
    course, lesson = await published_course(api, tutor)
    other_course, _ = await published_course(api, tutor)
    await enrol(api, student, other_course["id"])
    assert (await api.get(f"lessons/{lesson['id']}/playback", headers=student.headers)).status_code == 403
    assert (await api.get(f"lessons/{lesson['id']}/playback", headers=other_tutor.headers)).status_code == 403
    assert (await api.get(f"lessons/{lesson['id']}/playback")).status_code == 401


async def test_a_lesson_without_a_video_has_no_playback(api, actor):
    tutor = await actor("tutor")
    course, _ = await published_course(api, tutor)
    document = await add_lesson(api, tutor, course["id"], title="Notes", kind="document")
    resp = await api.get(f"lessons/{document['id']}/playback", headers=tutor.headers)
    assert resp.status_code == 422 and resp.headers["content-type"].startswith("application/problem+json")


async def test_lessons_of_a_draft_do_not_exist_for_students(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    draft = await create_course(api, tutor)
    lesson = await add_lesson(api, tutor, draft["id"])
    assert (await api.get(f"lessons/{lesson['id']}", headers=student.headers)).status_code == 404
    assert (await api.get(f"lessons/{lesson['id']}/playback", headers=student.headers)).status_code == 404
    assert (await api.get(f"lessons/{lesson['id']}", headers=tutor.headers)).status_code == 200
