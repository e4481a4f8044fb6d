"""Materials through the HTTP API and straight to Blob storage (Azurite): upload, publish,
download, delete, and the cleanup of uploads nobody published.

The bytes travel browser → Blob storage → browser through SAS URLs; the app only hands
out the SAS and checks the result. These tests do what a browser does with real HTTP.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit, urlunsplit

import aiohttp
import httpx
import pytest
from azure.data.tables.aio import TableClient

from shared_code.adapters.blobs import BlobStore
from shared_code.adapters.storage_account import StorageAccount
from shared_code.settings import Settings
from tests.support.content import create_course, enrol, published_course, upload_material

PDF = "application/pdf"


@pytest.fixture(scope="module")
def app_settings(stack) -> Settings:
    return Settings()


@pytest.fixture
async def blob_http():
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


def payload(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def sas_params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def expires_within(url: str, minutes: int) -> bool:
    expiry = datetime.fromisoformat(sas_params(url)["se"].replace("Z", "+00:00"))
    left = expiry - datetime.now(UTC)
    return timedelta(0) < left <= timedelta(minutes=minutes, seconds=5)


def with_blob_name(url: str, name: str) -> str:
    parts = urlsplit(url)
    path = parts.path.rsplit("/", 1)[0] + "/" + name
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


async def listen_to_course(api, course_id: str, tutor, student, received: list[dict], ready: asyncio.Event) -> None:
    """A student's Web PubSub connection, joined the way the student app joins: through a live
    class of the course, whose negotiate puts the connection in the group `course.<id>`."""
    scheduled = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    created = await api.post("classes", json={"courseId": course_id, "title": "Office hours", "scheduledAt": scheduled},
                             headers=tutor.headers)
    assert created.status_code == 201, created.text
    negotiated = await api.post(f"classes/{created.json()['id']}/negotiate", headers=student.headers)
    assert negotiated.status_code == 200, negotiated.text
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(negotiated.json()["url"], protocols=("json.webpubsub.azure.v1",)) as ws:
            async for msg in ws:
                frame = json.loads(msg.data)
                if frame.get("type") == "system" and frame.get("event") == "connected":
                    ready.set()
                elif frame.get("type") == "message" and isinstance(frame.get("data"), dict):
                    if frame["data"].get("type") == "material.published":
                        received.append(frame["data"])
                        return


async def access_rows(stack, settings: Settings, course_id: str, target_id: str) -> list[dict] | None:
    partition = f"{course_id}_{datetime.now(UTC):%Y%m%d}"
    async with TableClient.from_connection_string(stack.storage_connection_string, settings.access_log_table) as table:
        rows = [
            dict(e)
            async for e in table.query_entities(
                "PartitionKey eq @pk and targetId eq @t", parameters={"pk": partition, "t": target_id}
            )
        ]
    return rows or None


async def test_tutor_uploads_and_publishes_and_an_enrolled_student_downloads_the_same_bytes(
    api, actor, stack, app_settings, blob_http
):
    tutor, student = await actor("tutor"), await actor("student")
    course, _ = await published_course(api, tutor)
    await enrol(api, student, course["id"])
    received: list[dict] = []
    ready = asyncio.Event()
    listener = asyncio.create_task(listen_to_course(api, course["id"], tutor, student, received, ready))
    connected = asyncio.create_task(ready.wait())
    await asyncio.wait({listener, connected}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if listener.done():
        listener.result()  # the listener could not connect: raise its error here
    assert ready.is_set(), "the Web PubSub client did not connect"

    data = payload(64 * 1024 + 3)
    grant = await upload_material(api, tutor, course["id"], data, file_name="Week 1 notes.pdf", content_type=PDF)
    material_id = grant["materialId"]

    # Pending material is invisible to students.
    listing = (await api.get(f"courses/{course['id']}/materials", headers=student.headers)).json()
    assert material_id not in [m["id"] for m in listing["items"]]
    assert (await api.get(f"materials/{material_id}/download", headers=student.headers)).status_code == 404

    published = await api.post(f"materials/{material_id}/publish", headers=tutor.headers)
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published" and published.json()["sizeBytes"] == len(data)
    again = await api.post(f"materials/{material_id}/publish", headers=tutor.headers)
    assert again.status_code == 200 and again.json()["publishedAt"] == published.json()["publishedAt"]

    await asyncio.wait_for(listener, 10)
    assert received[0]["type"] == "material.published"
    assert (received[0]["courseId"], received[0]["materialId"], received[0]["fileName"]) == (
        course["id"], material_id, "Week 1 notes.pdf"
    )

    listing = (await api.get(f"courses/{course['id']}/materials", headers=student.headers)).json()
    assert [m["id"] for m in listing["items"]] == [material_id]
    assert listing["items"][0]["fileName"] == "Week 1 notes.pdf"

    resp = await api.get(f"materials/{material_id}/download", headers={**student.headers, "User-Agent": "e2e-browser"})
    assert resp.status_code == 200, resp.text
    link = resp.json()
    assert expires_within(link["url"], app_settings.sas_minutes)
    blob = await blob_http.get(link["url"])
    assert blob.status_code == 200
    assert blob.content == data
    assert blob.headers["content-disposition"] == 'attachment; filename="Week 1 notes.pdf"'

    # Recorded before the link was handed out: the row is there as soon as the answer is.
    rows = await access_rows(stack, app_settings, course["id"], material_id)
    assert rows, "the access row is written before the download URL is answered"
    assert rows[0]["kind"] == "download" and rows[0]["userId"] == student.user_id and rows[0]["userAgent"] == "e2e-browser"


async def test_a_sas_is_good_for_one_blob_one_permission_and_a_few_minutes(api, actor, stack, app_settings, blob_http):
    tutor = await actor("tutor")
    course, _ = await published_course(api, tutor)
    data = payload(2048, seed=11)
    ask = {"fileName": "slides.pdf", "contentType": PDF, "sizeBytes": len(data)}
    grant = (await api.post(f"courses/{course['id']}/materials/uploads", json=ask, headers=tutor.headers)).json()
    upload_url = grant["uploadUrl"]
    assert sas_params(upload_url)["sp"] == "c"
    assert expires_within(upload_url, app_settings.sas_minutes)
    assert f"/uploads/{course['id']}/{grant['materialId']}/slides.pdf?" in upload_url

    # The upload SAS cannot write another blob, nor read its own.
    other = await blob_http.put(with_blob_name(upload_url, "other.pdf"), content=data, headers=grant["requiredHeaders"])
    assert other.status_code == 403
    assert (await blob_http.put(upload_url, content=data, headers=grant["requiredHeaders"])).status_code == 201
    assert (await blob_http.get(upload_url)).status_code == 403
    # Create-only: once the file is there, the same SAS cannot replace it.
    replaced = await blob_http.put(upload_url, content=b"tampered", headers=grant["requiredHeaders"])
    assert replaced.status_code in (403, 409)

    assert (await api.post(f"materials/{grant['materialId']}/publish", headers=tutor.headers)).status_code == 200
    link = (await api.get(f"materials/{grant['materialId']}/download", headers=tutor.headers)).json()
    download_url = link["url"]
    assert sas_params(download_url)["sp"] == "r"
    assert expires_within(download_url, app_settings.sas_minutes)
    # The download SAS cannot write, and cannot read another blob.
    write = await blob_http.put(download_url, content=b"x", headers={"x-ms-blob-type": "BlockBlob"})
    assert write.status_code == 403
    assert (await blob_http.get(with_blob_name(download_url, "other.pdf"))).status_code == 403
    assert (await blob_http.get(download_url)).content == data

    # A SAS past its expiry is refused by storage itself.
    store = BlobStore(StorageAccount.from_settings(app_settings), https_only=False)  # Azurite speaks http
    try:
        blob_name = "/".join(urlsplit(download_url).path.split("/")[3:])
        expired, expiry = await store.sas_url(app_settings.materials_container, blob_name, permission="r", minutes=-1)
        assert expiry < datetime.now(UTC)
        assert (await blob_http.get(expired)).status_code == 403
        fresh, _ = await store.sas_url(app_settings.materials_container, blob_name, permission="r", minutes=1)
        assert (await blob_http.get(fresh)).status_code == 200  # the same blob, so only the expiry made the difference
    finally:
        await store.close()


async def test_publishing_checks_that_the_upload_matches_what_was_announced(api, actor, blob_http):
    tutor = await actor("tutor")
    course, _ = await published_course(api, tutor)

    async def ask(size: int, content_type: str = PDF) -> dict:
        body = {"fileName": "a.pdf", "contentType": content_type, "sizeBytes": size}
        resp = await api.post(f"courses/{course['id']}/materials/uploads", json=body, headers=tutor.headers)
        assert resp.status_code == 201, resp.text
        return resp.json()

    nothing = await ask(100)
    resp = await api.post(f"materials/{nothing['materialId']}/publish", headers=tutor.headers)
    assert resp.status_code == 422

    short = await ask(100)
    await blob_http.put(short["uploadUrl"], content=b"x" * 50, headers=short["requiredHeaders"])
    resp = await api.post(f"materials/{short['materialId']}/publish", headers=tutor.headers)
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "sizeBytes"

    wrong_type = await ask(10)
    await blob_http.put(
        wrong_type["uploadUrl"], content=b"0123456789", headers={"x-ms-blob-type": "BlockBlob", "x-ms-blob-content-type": "text/html"}
    )
    resp = await api.post(f"materials/{wrong_type['materialId']}/publish", headers=tutor.headers)
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "contentType"


async def test_disallowed_types_and_oversized_files_are_refused_up_front(api, actor, app_settings):
    tutor = await actor("tutor")
    course = await create_course(api, tutor)
    url = f"courses/{course['id']}/materials/uploads"
    exe = await api.post(url, json={"fileName": "x.exe", "contentType": "application/x-msdownload", "sizeBytes": 10}, headers=tutor.headers)
    assert exe.status_code == 422 and exe.json()["errors"][0]["field"] == "contentType"
    big = {"fileName": "big.pdf", "contentType": PDF, "sizeBytes": app_settings.material_max_bytes + 1}
    too_big = await api.post(url, json=big, headers=tutor.headers)
    assert too_big.status_code == 422 and too_big.json()["errors"][0]["field"] == "sizeBytes"
    assert (await api.post(url, json={**big, "sizeBytes": 0}, headers=tutor.headers)).status_code == 400


async def test_student_of_another_course_cannot_download_or_list_materials(api, actor):
    tutor, outsider, other_tutor = await actor("tutor"), await actor("student"), await actor("tutor")
    course, _ = await published_course(api, tutor)
    other_course, _ = await published_course(api, tutor)
    await enrol(api, outsider, other_course["id"])
    grant = await upload_material(api, tutor, course["id"], b"%PDF-1.4 tiny", file_name="t.pdf", content_type=PDF)
    assert (await api.post(f"materials/{grant['materialId']}/publish", headers=tutor.headers)).status_code == 200

    assert (await api.get(f"materials/{grant['materialId']}/download", headers=outsider.headers)).status_code == 403
    assert (await api.get(f"courses/{course['id']}/materials", headers=outsider.headers)).status_code == 403
    assert (await api.get(f"materials/{grant['materialId']}/download")).status_code == 401
    assert (await api.post(f"materials/{grant['materialId']}/publish", headers=other_tutor.headers)).status_code == 403
    body = {"fileName": "x.pdf", "contentType": PDF, "sizeBytes": 5}
    assert (await api.post(f"courses/{course['id']}/materials/uploads", json=body, headers=other_tutor.headers)).status_code == 403
    assert (await api.post(f"courses/{course['id']}/materials/uploads", json=body, headers=outsider.headers)).status_code == 403


async def test_material_lists_page_newest_first(api, actor):
    tutor = await actor("tutor")
    course, _ = await published_course(api, tutor)
    ids = []
    for i in range(3):
        grant = await upload_material(api, tutor, course["id"], f"file {i}".encode(), file_name=f"f{i}.txt", content_type="text/plain")
        assert (await api.post(f"materials/{grant['materialId']}/publish", headers=tutor.headers)).status_code == 200
        ids.append(grant["materialId"])
    first = (await api.get(f"courses/{course['id']}/materials", params={"limit": 2}, headers=tutor.headers)).json()
    second = (
        await api.get(f"courses/{course['id']}/materials", params={"limit": 2, "cursor": first["nextCursor"]}, headers=tutor.headers)
    ).json()
    assert [m["id"] for m in first["items"] + second["items"]] == list(reversed(ids))
    assert second["nextCursor"] is None
