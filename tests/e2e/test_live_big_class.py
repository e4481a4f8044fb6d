"""A big class: 200 students join at once and vote at once, through real WebSockets and the
local Web PubSub service. Presence and tallies are throttled; the closed counts are exact."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.live import close_all, enrolled_students, join, join_all, live_class, new_session

STUDENTS = 200

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
async def big_class(api):
    from tests.support.actors import new_actor

    tutor = await new_actor(api, "tutor", name="Big class tutor")

    async def actor(*roles, name=None):
        return await new_actor(api, *roles, name=name)

    course, klass = await live_class(api, tutor)
    students = await enrolled_students(api, actor, course["id"], STUDENTS)
    session = new_session()
    tutor_client = await join(api, session, tutor, klass["id"])
    started = time.monotonic()
    clients = await join_all(api, session, students, klass["id"])
    storm_seconds = time.monotonic() - started
    yield {"tutor": tutor, "tutor_client": tutor_client, "class": klass, "students": students, "clients": clients,
           "storm_seconds": storm_seconds}
    await close_all([tutor_client, *clients])
    await session.close()


async def test_two_hundred_students_join_at_once_and_presence_is_broadcast_only_a_few_times(api, big_class):
    tutor_client = big_class["tutor_client"]
    everyone = STUDENTS + 1  # the tutor is in the room too
    await tutor_client.wait_for(lambda m: m["type"] == "presence.updated" and m["count"] == everyone, timeout=20)
    updates = tutor_client.of_type("presence.updated")
    # A few broadcasts per second while people pour in, not one per join.
    assert 1 <= len(updates) < STUDENTS / 4, len(updates)
    assert len(updates) <= big_class["storm_seconds"] / 0.25 + 3
    counts = [m["count"] for m in updates]
    assert counts == sorted(counts), "a later broadcast never reports fewer people while only joins happen"
    state = await api.get(f"classes/{big_class['class']['id']}/state", headers=big_class["tutor"].headers)
    assert state.status_code == 200 and state.json()["presenceCount"] == everyone
    # A student sees the same head count.
    last_student = big_class["clients"][-1]
    await last_student.wait_for(lambda m: m["type"] == "presence.updated" and m["count"] == everyone, timeout=10)


async def test_every_student_votes_at_once_and_the_closed_counts_equal_the_votes_cast(api, big_class):
    tutor, klass, clients = big_class["tutor"], big_class["class"], big_class["clients"]
    opened = await api.post(
        f"classes/{klass['id']}/polls",
        json={"question": "Which topic next?", "options": ["Graphs", "Trees", "Heaps", "Tries"]},
        headers=tutor.headers,
    )
    assert opened.status_code == 201, opened.text
    poll_id = opened.json()["id"]
    await asyncio.gather(
        *(c.wait_for(lambda m: m["type"] == "poll.opened" and m["poll"]["id"] == poll_id, timeout=15) for c in clients)
    )

    # Every student votes at once; the first fifty change their mind, which must move the vote.
    final_choice = {c.who.user_id: i % 4 for i, c in enumerate(clients)}
    first_acks = await asyncio.gather(
        *(c.send("vote", {"pollId": poll_id, "option": (final_choice[c.who.user_id] + 1) % 4 if i < 50 else final_choice[c.who.user_id]})
          for i, c in enumerate(clients))
    )
    assert all(a.ok for a in first_acks), [a.body for a in first_acks if not a.ok][:3]
    changed = await asyncio.gather(
        *(c.send("vote", {"pollId": poll_id, "option": final_choice[c.who.user_id]}) for c in clients[:50])
    )
    assert all(a.ok for a in changed)

    expected = [sum(1 for v in final_choice.values() if v == option) for option in range(4)]
    tutor_client = big_class["tutor_client"]
    await tutor_client.wait_for(
        lambda m: m["type"] == "poll.tally" and m["pollId"] == poll_id and m["counts"] == expected, timeout=10
    )
    tallies = [m for m in tutor_client.of_type("poll.tally") if m["pollId"] == poll_id]
    assert len(tallies) < STUDENTS / 4, "tallies are throttled, not one per vote"

    closed = await api.post(f"classes/{klass['id']}/polls/{poll_id}/close", headers=tutor.headers)
    assert closed.status_code == 200, closed.text
    assert closed.json()["counts"] == expected and closed.json()["total"] == STUDENTS
    deliveries = await asyncio.gather(
        *(c.wait_for(lambda m: m["type"] == "poll.closed" and m["pollId"] == poll_id, timeout=10) for c in clients)
    )
    assert all(d["counts"] == expected for d in deliveries)

    stored = await api.get(f"classes/{klass['id']}/polls/{poll_id}", headers=big_class["students"][0].headers)
    assert stored.status_code == 200
    assert stored.json()["status"] == "closed" and stored.json()["counts"] == expected
    assert stored.json()["myVote"] == final_choice[big_class["students"][0].user_id]

    late = await clients[1].send("vote", {"pollId": poll_id, "option": 0})
    assert not late.ok and late.reason == "poll-closed"
