"""The catalog's search and filters: `GET /api/courses?q=&price=&tutorId=&publishedFrom=&publishedTo=`.

Each test searches for a word of its own, so the courses other tests make never match.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from tests.support.content import publish

pytestmark = pytest.mark.timeout(120)


def word() -> str:
    return "zq" + uuid.uuid4().hex[:10]


async def course(api, tutor, title: str, description: str = "", *, price_cents: int = 0, published: bool = True) -> dict:
    body = {"title": title, "description": description}
    if price_cents:
        body["priceCents"] = price_cents
    resp = await api.post("courses", json=body, headers=tutor.headers)
    assert resp.status_code == 201, resp.text
    made = resp.json()
    return await publish(api, tutor, made["id"]) if published else made


async def search(api, who, **params) -> list[str]:
    resp = await api.get("courses", params=params, headers=who.headers)
    assert resp.status_code == 200, resp.text
    return [c["id"] for c in resp.json()["items"]]


async def test_a_title_match_ranks_above_a_description_match_and_other_courses_are_left_out(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    w = word()
    in_description = await course(api, tutor, "Plant biology", f"Leaves, light and {w} in depth.")
    in_title = await course(api, tutor, f"{w} for beginners", "An introduction.")
    await course(api, tutor, "Unrelated", "Nothing to see.")
    assert await search(api, student, q=w) == [in_title["id"], in_description["id"]]


async def test_search_stems_words_the_english_way(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    w = word()
    solving = await course(api, tutor, f"Solving linear equations {w}")
    assert await search(api, student, q=f"equation solve {w}") == [solving["id"]]
    # Web search syntax: a quoted phrase, and a word that must be absent.
    assert await search(api, student, q=f'"linear equations" {w}') == [solving["id"]]
    assert await search(api, student, q=f"{w} -linear") == []


async def test_filters_by_price_tutor_and_publication_time(api, actor):
    tutor, other_tutor, student = await actor("tutor"), await actor("tutor"), await actor("student")
    w = word()
    free = await course(api, tutor, f"Free {w}")
    paid = await course(api, tutor, f"Paid {w}", price_cents=1900)
    theirs = await course(api, other_tutor, f"Theirs {w}")
    assert await search(api, student, q=w, price="free") == sorted([free["id"], theirs["id"]], reverse=True)
    assert await search(api, student, q=w, price="paid") == [paid["id"]]
    assert await search(api, student, q=w, tutorId=other_tutor.user_id) == [theirs["id"]]
    # Published at the server's time: the window is read from what the server stamped.
    paid_at = datetime.fromisoformat(paid["publishedAt"])
    theirs_at = datetime.fromisoformat(theirs["publishedAt"])
    later = await search(api, student, q=w, publishedFrom=paid_at.isoformat())
    assert set(later) == {paid["id"], theirs["id"]}
    window = await search(api, student, q=w, publishedFrom=paid_at.isoformat(), publishedTo=theirs_at.isoformat())
    assert window == [paid["id"]]
    # Filters work without a search too, newest first.
    listed = await search(api, student, tutorId=other_tutor.user_id, price="free")
    assert listed == [theirs["id"]]
    empty = await search(api, student, q=w, publishedTo=(paid_at - timedelta(days=365)).isoformat())
    assert free["id"] not in empty and empty == []


async def test_a_draft_never_shows_in_a_students_search_but_its_tutor_and_admins_find_it(api, actor):
    owner, other_tutor = await actor("tutor"), await actor("tutor")
    student, admin = await actor("student"), await actor("admin")
    w = word()
    draft = await course(api, owner, f"Secret draft {w}", published=False)
    live = await course(api, owner, f"Public {w}")
    assert await search(api, student, q=w) == [live["id"]]
    assert await search(api, other_tutor, q=w) == [live["id"]]
    assert await search(api, student, q=w, tutorId=owner.user_id, price="free") == [live["id"]]
    assert set(await search(api, owner, q=w)) == {draft["id"], live["id"]}
    assert set(await search(api, admin, q=w)) == {draft["id"], live["id"]}


async def test_search_pages_walk_every_match_once_in_rank_order(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    w = word()
    made = [await course(api, tutor, f"{w} part {i}", f"{w} again" if i % 2 else "") for i in range(7)]
    whole = await search(api, student, q=w, limit=50)
    assert sorted(whole) == sorted(c["id"] for c in made)
    walked, cursor, pages = [], None, 0
    while True:
        params = {"q": w, "limit": 2, **({"cursor": cursor} if cursor else {})}
        resp = await api.get("courses", params=params, headers=student.headers)
        assert resp.status_code == 200, resp.text
        walked += [c["id"] for c in resp.json()["items"]]
        cursor, pages = resp.json()["nextCursor"], pages + 1
        if cursor is None:
            break
        # A course added between pages neither shifts a page nor repeats a row.
        if pages == 1:
            await course(api, tutor, "Unrelated newcomer", f"not the word {uuid.uuid4().hex}")
    assert walked == whole and pages == 4


async def test_a_cursor_from_another_search_or_made_up_is_refused(api, actor):
    tutor, student = await actor("tutor"), await actor("student")
    w, other = word(), word()
    for i in range(3):
        await course(api, tutor, f"{w} {other} {i}")
    first = await api.get("courses", params={"q": w, "limit": 1}, headers=student.headers)
    cursor = first.json()["nextCursor"]
    assert cursor
    plain_list = await api.get("courses", params={"limit": 1}, headers=student.headers)
    listing_cursor = plain_list.json()["nextCursor"]
    for params in (
        {"q": other, "cursor": cursor},  # another search
        {"q": w, "price": "paid", "cursor": cursor},  # the same words, other filters
        {"cursor": cursor},  # the newest-first listing
        {"q": w, "cursor": listing_cursor},  # a listing cursor in a search
        {"q": w, "cursor": "not-a-cursor"},
        {"q": w, "cursor": "eyJyIjoiMSIsImlkIjoieCJ9"},  # {"r":"1","id":"x"}
    ):
        resp = await api.get("courses", params=params, headers=student.headers)
        assert resp.status_code == 400, (params, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize("params, field", [
    ({"price": "cheap"}, "price"),
    ({"tutorId": "someone"}, "tutorId"),
    ({"publishedFrom": "last tuesday"}, "publishedFrom"),
    ({"publishedFrom": "2026-02-01T00:00:00Z", "publishedTo": "2026-01-01T00:00:00Z"}, None),
    ({"q": "x" * 201}, "q"),
    ({"limit": "0"}, "limit"),
])
async def test_bad_catalog_query_values_are_400(api, actor, params, field):
    student = await actor("student")
    resp = await api.get("courses", params=params, headers=student.headers)
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    if field:
        assert field in [e["field"] for e in resp.json()["errors"]]
