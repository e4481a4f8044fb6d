"""Materials that cannot be turned against their readers or left behind: the extension fits
the declared type, the published blob is served as a download of that type, deletes are
audited, and uploads nobody published are cleaned up (against Azurite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from azure.storage.blob.aio import BlobServiceClient

from shared_code.bootstrap import build_context
from shared_code.services.content import materials
from shared_code.settings import Settings
from tests.support.content import audit_rows, create_course, enrol, published_course, upload_material

PDF = "application/pdf"


@pytest.fixture(scope="module")
def app_settings(stack) -> Settings:
    return Settings()


@pytest.fixture
async def blobs(stack):
    async with BlobServiceClient.from_connection_string(stack.storage_connection_string) as service:
        yield service


@pytest.fixture
async def ctx(stack):
    """The service layer as the host builds it, against the same PostgreSQL and Azurite."""
    context = await build_context(Settings())
    yield context
    await context.close()


def blob_name_of(url: str) -> str:
    """The blob a SAS URL names: the path after `/<account>/<container>/`."""
    return unquote("/".join(urlsplit(url).path.split("/")[3:]))


async def blob_properties(blobs: BlobServiceClient, settings: Settings, name: str):
    client = blobs.get_blob_client(settings.materials_container, name)
    return await client.get_blob_properties() if await client.exists() else None


async def test_a_file_whose_extension_does_not_fit_its_declared_type_is_refused(api, actor):
    tutor = await actor("tutor")
    course = await create_course(api, tutor)
    url = f"courses/{course['id']}/materials/uploads"
    for name in ("notes.html", "notes.pdf.html", "notes", "invoice.exe"):
        resp = await api.post(url, json={"fileName": name, "contentType": PDF, "sizeBytes": 10}, headers=tutor.headers)
        assert resp.status_code == 422, (name, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["errors"][0]["field"] == "fileName"
    ok = await api.post(url, json={"fileName": "Notes.PDF", "contentType": PDF, "sizeBytes": 10}, headers=tutor.headers)
    assert ok.status_code == 201, ok.text


async def test_a_published_file_is_stored_and_served_as_an_attachment_of_the_declared_type(
    api, actor, blobs, app_settings
):
    tutor, student = await actor("tutor"), await actor("student")
    course, _ = await published_course(api, tutor)
    await enrol(api, student, course["id"])
    data = b"%PDF-1.4 integrity"
    grant = await upload_material(api, tutor, course["id"], data, file_name="Week 2.pdf", content_type=PDF)
    upload_blob = blob_name_of(grant["uploadUrl"])
    assert (await api.post(f"materials/{grant['materialId']}/publish", headers=tutor.headers)).status_code == 200

    link = (await api.get(f"materials/{grant['materialId']}/download", headers=student.headers)).json()
    published_blob = blob_name_of(link["url"])
    assert published_blob != upload_blob
    props = await blob_properties(blobs, app_settings, published_blob)
    # The blob itself says so, for any reader: not only responses to our SAS overrides.
    assert props.content_settings.content_type == PDF
    assert props.content_settings.content_disposition == 'attachment; filename="Week 2.pdf"'
    assert props.size == len(data)
    # The upload was moved out of the prefix the lifecycle rule empties.
    assert await blob_properties(blobs, app_settings, upload_blob) is None

    async with httpx.AsyncClient(timeout=30) as client:
        got = await client.get(link["url"])
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == PDF
    assert got.headers["content-disposition"].startswith("attachment;")


async def test_publishing_refuses_a_blob_whose_type_or_size_differs_from_the_declaration(api, actor):
    tutor = await actor("tutor")
    course = await create_course(api, tutor)

    async def ask(size: int) -> dict:
        body = {"fileName": "notes.pdf", "contentType": PDF, "sizeBytes": size}
        resp = await api.post(f"courses/{course['id']}/materials/uploads", json=body, headers=tutor.headers)
        assert resp.status_code == 201, resp.text
        return resp.json()

    async with httpx.AsyncClient(timeout=30) as client:
        as_html = await ask(6)
        put = await client.put(as_html["uploadUrl"], content=b"<html>",
                               headers={"x-ms-blob-type": "BlockBlob", "x-ms-blob-content-type": "text/html"})
        assert put.status_code == 201
        longer = await ask(4)
        put = await client.put(longer["uploadUrl"], content=b"%PDF-1.4", headers=longer["requiredHeaders"])
        assert put.status_code == 201
    for grant, field in ((as_html, "contentType"), (longer, "sizeBytes")):
        resp = await api.post(f"materials/{grant['materialId']}/publish", headers=tutor.headers)
        assert resp.status_code == 422, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in resp.json()["errors"]] == [field]


async def test_the_owning_tutor_deletes_a_material_and_the_delete_is_audited(api, actor, blobs, app_settings):
    tutor, other_tutor, student, admin = await actor("tutor"), await actor("tutor"), await actor("student"), await actor("admin")
    course, _ = await published_course(api, tutor)
    await enrol(api, student, course["id"])
    grant = await upload_material(api, tutor, course["id"], b"%PDF-1.4 bye", file_name="old.pdf", content_type=PDF)
    material_id = grant["materialId"]
    assert (await api.post(f"materials/{material_id}/publish", headers=tutor.headers)).status_code == 200
    blob = blob_name_of((await api.get(f"materials/{material_id}/download", headers=tutor.headers)).json()["url"])

    assert (await api.delete(f"materials/{material_id}", headers=student.headers)).status_code == 403
    assert (await api.delete(f"materials/{material_id}", headers=other_tutor.headers)).status_code == 403
    assert (await api.delete(f"materials/{material_id}")).status_code == 401
    deleted = await api.delete(f"materials/{material_id}", headers=tutor.headers)
    assert deleted.status_code == 204, deleted.text

    assert (await api.get(f"materials/{material_id}/download", headers=student.headers)).status_code == 404
    listing = (await api.get(f"courses/{course['id']}/materials", headers=student.headers)).json()
    assert listing["items"] == []
    assert await blob_properties(blobs, app_settings, blob) is None
    assert (await api.delete(f"materials/{material_id}", headers=tutor.headers)).status_code == 404

    rows = await audit_rows(api, admin, tutor, "material.deleted")
    assert len(rows) == 1 and rows[0]["target"] == f"material/{material_id}"
    details = rows[0]["details"]
    assert details["courseId"] == course["id"] and details["after"] is None
    assert details["before"]["fileName"] == "old.pdf" and details["before"]["status"] == "published"


async def test_cleanup_deletes_an_unpublished_upload_older_than_a_day_and_keeps_a_fresh_one(
    api, actor, ctx, blobs, app_settings
):
    tutor = await actor("tutor")
    course = await create_course(api, tutor)
    stale = await upload_material(api, tutor, course["id"], b"%PDF-1.4 stale", file_name="stale.pdf", content_type=PDF)
    between = datetime.now(UTC)
    fresh = await upload_material(api, tutor, course["id"], b"%PDF-1.4 fresh", file_name="fresh.pdf", content_type=PDF)

    # A day after `between`, the first upload is more than a day old and the second is not.
    discarded = await materials.discard_stale_uploads(ctx, now=between + timedelta(days=1))
    assert discarded >= 1

    assert await blob_properties(blobs, app_settings, blob_name_of(stale["uploadUrl"])) is None
    assert (await api.post(f"materials/{stale['materialId']}/publish", headers=tutor.headers)).status_code == 404
    assert await blob_properties(blobs, app_settings, blob_name_of(fresh["uploadUrl"])) is not None
    kept = await api.post(f"materials/{fresh['materialId']}/publish", headers=tutor.headers)
    assert kept.status_code == 200, kept.text


async def test_cleanup_leaves_published_materials_alone(api, actor, ctx):
    tutor = await actor("tutor")
    course, _ = await published_course(api, tutor)
    grant = await upload_material(api, tutor, course["id"], b"%PDF-1.4 kept", file_name="kept.pdf", content_type=PDF)
    assert (await api.post(f"materials/{grant['materialId']}/publish", headers=tutor.headers)).status_code == 200
    await materials.discard_stale_uploads(ctx, now=datetime.now(UTC) + timedelta(days=30))
    download = await api.get(f"materials/{grant['materialId']}/download", headers=tutor.headers)
    assert download.status_code == 200, download.text
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await client.get(download.json()["url"])).content == b"%PDF-1.4 kept"
