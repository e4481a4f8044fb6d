"""A full privacy export against the real stack: the person asks, the host's queue trigger
builds the file in Azurite, and the file holds every row where the bounded export stops at
a page. Only its person (and admins) see it, its URL reads that one file and nothing else,
a second request while one is pending gets the same export, and erasure takes the file
with the account."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from shared_code.settings import Settings
from tests.support.content import eventually

pytestmark = pytest.mark.timeout(180)


def _many() -> int:
    """More than a bounded export's page of rows per section (LECTERN_PRIVACY_EXPORT_ROWS)."""
    return Settings().privacy_export_rows + 250


async def _pg(stack, sql: str, *params) -> None:
    async with await psycopg.AsyncConnection.connect(stack.postgres_url, autocommit=True) as conn:
        await conn.execute(sql, params)


async def _with_many_notifications(stack, user_id: str, many: int) -> None:
    # Set up straight in PostgreSQL: a year of notifications is not what this test is about.
    await _pg(
        stack,
        """INSERT INTO notifications (user_id, kind, title, body, dedupe_key, created_at)
           SELECT %s, 'quiz.graded', 'Quiz graded', 'n' || i, 'old:' || i, now() - i * interval '1 minute'
             FROM generate_series(1, %s) AS i""",
        user_id, many,
    )


async def _ready(api, path: str, headers: dict) -> dict:
    async def check() -> dict | None:
        resp = await api.get(path, headers=headers)
        assert resp.status_code == 200, resp.text
        job = resp.json()
        assert job["status"] in ("pending", "ready"), job
        return job if job["status"] == "ready" else None

    return await eventually(check, timeout=60, interval=0.5)


async def test_a_full_export_holds_every_row_where_the_bounded_one_stops_at_a_page(api, actor, stack):
    student, many = await actor("student"), _many()
    await _with_many_notifications(stack, student.user_id, many)
    bounded = (await api.get("me/export", headers=student.headers)).json()
    assert bounded["sections"]["notifications"]["truncated"] is True

    asked = await api.post("me/exports", headers=student.headers)
    assert asked.status_code == 202, asked.text
    job = asked.json()
    assert job["status"] == "pending" and job["userId"] == student.user_id and job["downloadUrl"] is None
    ready = await _ready(api, f"me/exports/{job['id']}", student.headers)
    assert ready["rows"]["notifications"] == many
    assert ready["sizeBytes"] > 0 and ready["expiresAt"]
    async with httpx.AsyncClient(timeout=30) as client:
        got = await client.get(ready["downloadUrl"])
    assert got.status_code == 200
    assert "attachment" in got.headers.get("content-disposition", "")
    document = got.json()
    assert document["userId"] == student.user_id and document["complete"] is True
    assert len(got.content) == ready["sizeBytes"]
    notes = document["sections"]["notifications"]["items"]
    assert len(notes) == many
    assert {n["body"] for n in notes} == {f"n{i}" for i in range(1, many + 1)}
    assert document["sections"]["profile"]["items"][0]["name"] == student.name
    # Every section of the registry is there, each with the count the export row reports.
    assert {name: len(s["items"]) for name, s in document["sections"].items()} == ready["rows"]

    async def told() -> list[dict] | None:
        feed = (await api.get("me/notifications", params={"limit": 5}, headers=student.headers)).json()
        found = [n for n in feed["items"] if n["kind"] == "privacy.export.ready"]
        return found or None

    note = (await eventually(told, timeout=15))[0]
    assert note["data"]["exportId"] == job["id"]


async def test_an_export_is_its_persons_alone_and_its_url_reads_only_that_file(api, actor, stack):
    student, other, tutor, admin = await actor("student"), await actor("student"), await actor("tutor"), await actor("admin")
    job = (await api.post("me/exports", headers=student.headers)).json()
    # Another student guessing (or being told) the id: not found, as if it did not exist.
    assert (await api.get(f"me/exports/{job['id']}", headers=other.headers)).status_code == 404
    assert (await api.get(f"me/exports/{uuid.uuid4()}", headers=student.headers)).status_code == 404
    assert (await api.get("me/exports/not-an-id", headers=student.headers)).status_code in (400, 404)
    # The admin variants: admins only, and for a user that exists.
    assert (await api.post(f"admin/users/{student.user_id}/exports", headers=tutor.headers)).status_code == 403
    assert (await api.get(f"admin/users/{student.user_id}/exports/{job['id']}", headers=tutor.headers)).status_code == 403
    assert (await api.post(f"admin/users/{uuid.uuid4()}/exports", headers=admin.headers)).status_code == 404
    # An export id under another user's path is not that user's export.
    assert (await api.get(f"admin/users/{other.user_id}/exports/{job['id']}", headers=admin.headers)).status_code == 404

    # Lists: the person's own exports only, and never a download URL (only an export's own GET hands one out).
    mine = (await api.get("me/exports", headers=student.headers)).json()["items"]
    assert [e["id"] for e in mine] == [job["id"]]
    assert (await api.get("me/exports", headers=other.headers)).json()["items"] == []
    assert (await api.get(f"admin/users/{student.user_id}/exports", headers=tutor.headers)).status_code == 403
    listed = (await api.get(f"admin/users/{student.user_id}/exports", headers=admin.headers)).json()["items"]
    assert [e["id"] for e in listed] == [job["id"]]

    ready = await _ready(api, f"admin/users/{student.user_id}/exports/{job['id']}", admin.headers)
    listed = (await api.get(f"admin/users/{student.user_id}/exports", headers=admin.headers)).json()["items"]
    assert listed[0]["status"] == "ready" and listed[0]["downloadUrl"] is None
    url = urlsplit(ready["downloadUrl"])
    async with httpx.AsyncClient(timeout=30) as client:
        # Read-only: the URL cannot overwrite the file.
        put = await client.put(ready["downloadUrl"], content=b"{}", headers={"x-ms-blob-type": "BlockBlob"})
        assert put.status_code == 403
        # One file: the same signature on another person's file is refused.
        elsewhere = url._replace(path=url.path.replace(student.user_id, other.user_id)).geturl()
        assert (await client.get(elsewhere)).status_code == 403
        assert (await client.get(ready["downloadUrl"])).status_code == 200


async def test_erasure_takes_the_export_file_with_the_account(api, actor, stack):
    student = await actor("student")
    job = (await api.post("me/exports", headers=student.headers)).json()
    ready = await _ready(api, f"me/exports/{job['id']}", student.headers)
    assert (await api.delete("me", headers=student.headers)).status_code == 204
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await client.get(ready["downloadUrl"])).status_code == 404


async def test_one_pending_export_per_person_and_one_that_never_finished_does_not_block_the_next(api, actor, stack):
    student = await actor("student")
    first = (await api.post("me/exports", headers=student.headers)).json()
    await _ready(api, f"me/exports/{first['id']}", student.headers)
    # Put back to pending (as if its build were still running): asking again is that same
    # export, not a second build.
    await _pg(stack, "UPDATE privacy_exports SET status = 'pending' WHERE id = %s", first["id"])
    again = await api.post("me/exports", headers=student.headers)
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    # Left pending for hours (every retry of its build failed): the next request is a new
    # export, and the old one says it failed.
    await _pg(stack, "UPDATE privacy_exports SET requested_at = now() - interval '2 hours' WHERE id = %s", first["id"])
    second = await api.post("me/exports", headers=student.headers)
    assert second.status_code == 202 and second.json()["id"] != first["id"]
    old = (await api.get(f"me/exports/{first['id']}", headers=student.headers)).json()
    assert old["status"] == "failed" and old["downloadUrl"] is None
    await _ready(api, f"me/exports/{second.json()['id']}", student.headers)
