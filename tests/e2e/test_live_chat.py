"""Chat in a live class: order per sender at every client, mute, rate limit, length, deletion,
history."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.live import close_all, enrolled_students, join, join_all, live_class, new_session


@pytest.fixture
async def room(api, actor):
    """A started class with its tutor and four students connected."""
    tutor = await actor("tutor")
    course, klass = await live_class(api, tutor)
    students = await enrolled_students(api, actor, course["id"], 4)
    session = new_session()
    tutor_client = await join(api, session, tutor, klass["id"])
    clients = await join_all(api, session, students, klass["id"])
    yield {"tutor": tutor, "class": klass, "students": students, "tutor_client": tutor_client, "clients": clients}
    await close_all([tutor_client, *clients])
    await session.close()


async def test_chat_from_several_students_arrives_in_order_per_sender_at_every_client(api, room):
    senders = room["clients"][:3]
    per_sender = 5

    async def talk(client):
        for n in range(per_sender):
            ack = await client.send("chat", {"text": f"{client.who.name} says {n}"})
            assert ack.ok, ack.body

    await asyncio.gather(*(talk(c) for c in senders))
    everyone = [room["tutor_client"], *room["clients"]]
    total = per_sender * len(senders)
    for client in everyone:
        await client.wait_for(lambda m, client=client: len(client.of_type("chat.message")) >= total, timeout=10)
        received = client.of_type("chat.message")
        assert len(received) == total
        for sender in senders:
            mine = [m["text"] for m in received if m["userId"] == sender.who.user_id]
            assert mine == [f"{sender.who.name} says {n}" for n in range(per_sender)]
            assert all(m["userName"] == sender.who.name for m in received if m["userId"] == sender.who.user_id)
        seqs = [m["seq"] for m in received]
        assert len(set(seqs)) == total

    history = await api.get(f"classes/{room['class']['id']}/chat", params={"limit": 10}, headers=room["students"][3].headers)
    assert history.status_code == 200
    page = history.json()
    assert len(page["items"]) == 10 and page["nextCursor"]
    rest = await api.get(
        f"classes/{room['class']['id']}/chat", params={"limit": 10, "cursor": page["nextCursor"]},
        headers=room["students"][3].headers,
    )
    items = page["items"] + rest.json()["items"]
    assert len(items) == total and rest.json()["nextCursor"] is None
    assert [i["seq"] for i in items] == sorted((i["seq"] for i in items), reverse=True)


async def test_a_muted_student_is_refused_until_unmuted(api, room):
    tutor, klass = room["tutor"], room["class"]
    student, client = room["students"][0], room["clients"][0]
    muted = await api.post(
        f"classes/{klass['id']}/moderation", json={"action": "mute", "userId": student.user_id}, headers=tutor.headers
    )
    assert muted.status_code == 200 and muted.json()["changed"] is True
    notice = await room["clients"][1].wait_for(lambda m: m["type"] == "moderation.muted")
    assert notice["userId"] == student.user_id and notice["muted"] is True

    refused = await client.send("chat", {"text": "can anyone hear me?"})
    assert not refused.ok and refused.reason == "muted"
    state = await api.get(f"classes/{klass['id']}/state", headers=student.headers)
    assert state.json()["muted"] is True

    await api.post(f"classes/{klass['id']}/moderation", json={"action": "unmute", "userId": student.user_id}, headers=tutor.headers)
    again = await client.send("chat", {"text": "back again"})
    assert again.ok
    heard = await room["tutor_client"].wait_for(lambda m: m["type"] == "chat.message" and m["text"] == "back again")
    assert heard["userId"] == student.user_id
    assert not any(m.get("text") == "can anyone hear me?" for m in room["tutor_client"].of_type("chat.message"))


async def test_chat_beyond_the_rate_limit_is_refused_with_a_retry_time(room):
    client = room["clients"][2]
    acks = [await client.send("chat", {"text": f"flood {n}"}) for n in range(7)]
    assert [a.ok for a in acks[:5]] == [True] * 5
    assert not acks[5].ok and acks[5].reason == "rate-limited" and acks[5].body["retryAfterMs"] > 0


async def test_empty_or_too_long_chat_is_refused(room):
    client = room["clients"][3]
    assert (await client.send("chat", {"text": "   "})).reason == "empty"
    assert (await client.send("chat", {"text": "x" * 1001})).reason == "too-long"
    assert (await client.send("chat", {"words": "hi"})).reason == "invalid"
    assert (await client.send("dance", {})).reason == "unknown-event"


async def test_the_tutor_deletes_a_message_and_everyone_sees_it_go(api, room):
    tutor, klass, client = room["tutor"], room["class"], room["clients"][0]
    ack = await client.send("chat", {"text": "something regrettable"})
    assert ack.ok
    message_id = ack.body["messageId"]
    deleted = await api.post(
        f"classes/{klass['id']}/moderation", json={"action": "deleteMessage", "messageId": message_id}, headers=tutor.headers
    )
    assert deleted.status_code == 200 and deleted.json()["changed"] is True
    for other in room["clients"]:
        notice = await other.wait_for(lambda m: m["type"] == "chat.deleted")
        assert notice["messageId"] == message_id
    state = await api.get(f"classes/{klass['id']}/state", headers=room["students"][1].headers)
    assert message_id not in [m["id"] for m in state.json()["recentChat"]]
    history = await api.get(f"classes/{klass['id']}/chat", headers=room["students"][1].headers)
    assert message_id not in [m["id"] for m in history.json()["items"]]
    repeat = await api.post(
        f"classes/{klass['id']}/moderation", json={"action": "deleteMessage", "messageId": message_id}, headers=tutor.headers
    )
    assert repeat.status_code == 200 and repeat.json()["changed"] is False
    student_try = await api.post(
        f"classes/{klass['id']}/moderation", json={"action": "deleteMessage", "messageId": message_id},
        headers=room["students"][0].headers,
    )
    assert student_try.status_code == 403
