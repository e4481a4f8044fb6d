"""The admin app's user directory and platform analytics, against the real stack.

The analytics rows are written straight into PostgreSQL on a random day decades ago, so
the figures of that range are exactly what this test wrote, whatever else the suite did.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from psycopg.types.json import Jsonb

pytestmark = pytest.mark.timeout(120)


# --- users ------------------------------------------------------------------------------
async def test_admins_find_users_by_a_part_of_name_or_email_and_by_role_page_by_page(api, actor, stack):
    admin = await actor("admin")
    tag = uuid.uuid4().hex[:10]
    ada = await actor("student", name=f"Ada {tag} Lovelace")
    bob = await actor("student", name=f"BOB {tag.upper()}")
    cy = await actor("tutor", name=f"Cy {tag}")
    dee = await actor("student", name="Dee Nobody")
    for who in (ada, bob, cy, dee):  # the row is made on a user's first call
        assert (await api.get("me/dashboard", headers=who.headers)).status_code == 200
    async with await psycopg.AsyncConnection.connect(stack.postgres_url, autocommit=True) as conn:
        await conn.execute("UPDATE users SET email = %s WHERE id = %s", (f"Dee.{tag.upper()}@Example.test", dee.user_id))

    async def found(**params) -> list[dict]:
        resp = await api.get("admin/users", params=params, headers=admin.headers)
        assert resp.status_code == 200, resp.text
        return resp.json()["items"]

    everyone = await found(q=tag)
    assert {u["id"] for u in everyone} == {ada.user_id, bob.user_id, cy.user_id, dee.user_id}
    assert [u["createdAt"] for u in everyone] == sorted((u["createdAt"] for u in everyone), reverse=True)
    by_id = {u["id"]: u for u in everyone}
    assert by_id[dee.user_id]["email"] == f"Dee.{tag.upper()}@Example.test"
    assert by_id[cy.user_id]["roles"] == ["tutor"] and by_id[ada.user_id]["name"] == f"Ada {tag} Lovelace"
    assert {u["id"] for u in await found(q=tag.upper(), role="tutor")} == {cy.user_id}
    assert {u["id"] for u in await found(q=f"{tag} love", role="student")} == {ada.user_id}
    assert await found(q=f"%{tag}") == [] and await found(q=f"_{tag[1:]}") == []  # wildcards are literal

    first = await api.get("admin/users", params={"q": tag, "limit": 3}, headers=admin.headers)
    page1 = first.json()
    assert len(page1["items"]) == 3 and page1["nextCursor"]
    await actor("student", name=f"Late {tag}")  # a sign-up between pages shifts nothing
    page2 = (await api.get("admin/users", params={"q": tag, "limit": 3, "cursor": page1["nextCursor"]},
                           headers=admin.headers)).json()
    assert [u["id"] for u in page1["items"] + page2["items"]] == [u["id"] for u in everyone]
    assert page2["nextCursor"] is None

    for bad in ({"cursor": "not-a-cursor"}, {"role": "owner"}, {"q": "x" * 101}, {"limit": 0}):
        resp = await api.get("admin/users", params=bad, headers=admin.headers)
        assert resp.status_code == 400, (bad, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
    assert (await api.get("admin/users", headers=ada.headers)).status_code == 403


# --- analytics --------------------------------------------------------------------------
async def _seed(conn, day: date) -> dict:
    """A small platform's activity on `day` and the day after."""
    ids = {k: str(uuid.uuid4()) for k in ("tutor", "s1", "s2", "s3", "c1", "c2", "l1", "q1")}

    def at(offset_days: int, hour: int, minute: int = 0) -> datetime:
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) + timedelta(days=offset_days)

    for key in ("tutor", "s1", "s2", "s3"):
        await conn.execute("INSERT INTO users (id, name, roles) VALUES (%s, %s, %s)",
                           (ids[key], f"analytics {key}", ["tutor" if key == "tutor" else "student"]))
    for key, title in (("c1", "Popular"), ("c2", "Quiet")):
        await conn.execute("INSERT INTO courses (id, owner_id, title, published) VALUES (%s, %s, %s, true)",
                           (ids[key], ids["tutor"], title))
    await conn.execute("INSERT INTO lessons (id, course_id, title, kind, position) VALUES (%s, %s, 'L', 'video', 0)",
                       (ids["l1"], ids["c1"]))
    for course, student, when in (("c1", "s1", at(0, 8)), ("c1", "s2", at(0, 9)), ("c2", "s3", at(1, 7))):
        await conn.execute("INSERT INTO enrollments (course_id, user_id, source, created_at) VALUES (%s, %s, 'self', %s)",
                           (ids[course], ids[student], when))
    await conn.execute(
        "INSERT INTO video_progress (user_id, lesson_id, course_id, watched_seconds, updated_at) VALUES (%s, %s, %s, 30, %s)",
        (ids["s1"], ids["l1"], ids["c1"], at(0, 10)))
    await conn.execute(
        "INSERT INTO quizzes (id, course_id, lesson_id, title, questions, max_score) VALUES (%s, %s, %s, 'Q', %s, 1)",
        (ids["q1"], ids["c1"], ids["l1"], Jsonb([])))
    for student, when in (("s1", at(0, 11)), ("s2", at(0, 12)), ("s3", at(1, 13))):
        await conn.execute(
            """INSERT INTO quiz_attempts (id, quiz_id, course_id, user_id, attempt_no, answers, score, max_score,
                                          per_question, created_at)
               VALUES (%s, %s, %s, %s, 1, %s, 1, 1, %s, %s)""",
            (str(uuid.uuid4()), ids["q1"], ids["c1"], ids[student], Jsonb([]), Jsonb([]), when))
    purchases = (
        ("stripe", "USD", 2500, "paid", 0, at(0, 14)),
        ("stripe", "USD", 1000, "refunded", 1000, at(0, 15)),
        ("stripe", "USD", 700, "refunded", 300, at(1, 15)),
        ("razorpay", "INR", 50000, "disputed", 0, at(1, 16)),
        ("stripe", "USD", 9900, "pending", 0, None),
        ("stripe", "USD", 9900, "paid", 0, at(2, 1)),  # the day after the range
    )
    for provider, currency, amount, status, refunded, paid_at in purchases:
        await conn.execute(
            """INSERT INTO purchases (id, provider, provider_ref, course_id, user_id, amount_cents, currency, status,
                                      refunded_cents, paid_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (str(uuid.uuid4()), provider, f"ref_{uuid.uuid4().hex}", ids["c1"], ids["s1"], amount, currency, status,
             refunded, paid_at))
    classes = (
        ("ended", at(0, 9), at(0, 10, 30)),   # 90 minutes
        ("ended", at(1, 18), at(1, 18, 45)),  # 45 minutes
        ("ended", None, at(0, 20)),           # ended without being started: no minutes
        ("live", at(1, 19), None),
    )
    for status, started, ended in classes:
        await conn.execute(
            """INSERT INTO live_classes (id, course_id, tutor_id, title, scheduled_at, status, started_at, ended_at)
               VALUES (%s, %s, %s, 'class', %s, %s, %s, %s)""",
            (str(uuid.uuid4()), ids["c1"], ids["tutor"], at(0, 0), status, started, ended))
    return ids


async def test_platform_analytics_count_each_figure_per_day_from_the_rows_that_carry_its_time(api, actor, stack):
    admin = await actor("admin")
    day = date(1990, 1, 1) + timedelta(days=random.randrange(20 * 365))
    async with await psycopg.AsyncConnection.connect(stack.postgres_url, autocommit=True) as conn:
        ids = await _seed(conn, day)
    resp = await api.get("admin/analytics", params={"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()},
                         headers=admin.headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["from"], body["to"]) == (day.isoformat(), (day + timedelta(days=1)).isoformat())
    assert [(d["day"], d["activeStudents"], d["enrollments"], d["liveClasses"], d["liveMinutes"]) for d in body["days"]] == [
        (day.isoformat(), 2, 2, 1, 90.0),
        ((day + timedelta(days=1)).isoformat(), 1, 1, 1, 45.0),
    ]
    assert body["revenue"] == [
        {"provider": "razorpay", "currency": "INR", "purchases": 1, "grossCents": 50000, "refundedCents": 0,
         "netCents": 50000, "disputedCents": 50000},
        {"provider": "stripe", "currency": "USD", "purchases": 3, "grossCents": 4200, "refundedCents": 1300,
         "netCents": 2900, "disputedCents": 0},
    ]
    assert (body["liveClasses"], body["liveMinutes"]) == (2, 135.0)
    assert [(c["courseId"], c["enrollments"], c["takenDown"]) for c in body["topCourses"]] == [
        (ids["c1"], 2, False), (ids["c2"], 1, False)]


async def test_analytics_default_to_the_last_30_days_and_refuse_a_range_over_366(api, actor):
    admin = await actor("admin")
    resp = await api.get("admin/analytics", headers=admin.headers)
    assert resp.status_code == 200, resp.text
    today = datetime.now(UTC).date()
    assert resp.json()["to"] == today.isoformat() and len(resp.json()["days"]) == 30
    longest = await api.get("admin/analytics", params={"from": (today - timedelta(days=365)).isoformat(),
                                                        "to": today.isoformat()}, headers=admin.headers)
    assert longest.status_code == 200 and len(longest.json()["days"]) == 366
    for params in ({"from": (today - timedelta(days=366)).isoformat(), "to": today.isoformat()},
                   {"from": today.isoformat(), "to": (today - timedelta(days=1)).isoformat()},
                   {"from": (today - timedelta(days=400)).isoformat()},
                   {"from": "yesterday"}):
        bad = await api.get("admin/analytics", params=params, headers=admin.headers)
        assert bad.status_code == 400, (params, bad.text)
        assert bad.headers["content-type"].startswith("application/problem+json")
