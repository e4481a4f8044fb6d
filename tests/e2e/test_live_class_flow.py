"""A class from start to end: recovery through `state` after missed messages, hands in order,
screen share, reactions, the end (poll closed, hands lowered, class.ended last), attendance."""

from __future__ import annotations

import asyncio

from tests.support.content import eventually
from tests.support.live import close_all, enrolled_students, join, live_class, new_session


async def test_a_client_that_missed_messages_recovers_through_state(api, actor):
    tutor = await actor("tutor")
    course, klass = await live_class(api, tutor)
    class_id = klass["id"]
    dropped, talker = await enrolled_students(api, actor, course["id"], 2)
    session = new_session()
    try:
        lost = await join(api, session, dropped, class_id)
        speaker = await join(api, session, talker, class_id)
        tutor_client = await join(api, session, tutor, class_id)
        await lost.wait_for(lambda m: m["type"] == "presence.updated" and m["count"] == 3)
        seen_before = lost.last_seq
        await lost.close()  # the network drops; the class goes on

        poll = (await api.post(f"classes/{class_id}/polls", json={"question": "Ready?", "options": ["yes", "no"]},
                               headers=tutor.headers)).json()
        assert (await speaker.send("raiseHand")).ok
        assert (await speaker.send("chat", {"text": "while you were away"})).ok
        assert (await speaker.send("vote", {"pollId": poll["id"], "option": 1})).ok
        assert (await tutor_client.send("screenShare", {"action": "start", "streamUrl": "https://stream.example/live/42"})).ok
        await tutor_client.wait_for(lambda m: m["type"] == "screenShare.started")

        back = await join(api, session, dropped, class_id)
        back.last_seq = seen_before  # the page remembers where it was
        assert (await speaker.send("chat", {"text": "welcome back"})).ok
        news = await back.wait_for(lambda m: m["type"] == "chat.message" and m["text"] == "welcome back")
        assert news["seq"] > seen_before + 1 and back.gaps == 1, "the jump in seq tells the client it missed messages"

        async def whole_room():
            body = (await api.get(f"classes/{class_id}/state", headers=dropped.headers)).json()
            return body if body["presenceCount"] == 3 else None

        state = await eventually(whole_room, timeout=5)
        assert state["seq"] >= news["seq"]
        assert state["status"] == "live"
        assert state["openPoll"]["id"] == poll["id"] and state["openPoll"]["counts"] == [0, 1]
        assert [h["userId"] for h in state["raisedHands"]] == [talker.user_id]
        assert state["screenShare"]["streamUrl"] == "https://stream.example/live/42"
        assert [m["text"] for m in state["recentChat"]][:2] == ["welcome back", "while you were away"]
        assert all(a["seq"] > b["seq"] for a, b in zip(state["recentChat"], state["recentChat"][1:], strict=False))

        # When nothing is moving, the snapshot's seq is exactly the last message's seq.
        await asyncio.sleep(0.6)
        quiet = (await api.get(f"classes/{class_id}/state", headers=dropped.headers)).json()
        last = max(m["seq"] for m in tutor_client.messages)
        assert quiet["seq"] == last
        await close_all([back, speaker, tutor_client])
    finally:
        await session.close()


async def test_hands_are_kept_in_order_and_the_tutor_lowers_anyones(api, actor):
    tutor = await actor("tutor")
    course, klass = await live_class(api, tutor)
    students = await enrolled_students(api, actor, course["id"], 3)
    session = new_session()
    try:
        tutor_client = await join(api, session, tutor, klass["id"])
        clients = [await join(api, session, s, klass["id"]) for s in students]
        for client in clients:
            assert (await client.send("raiseHand")).ok
        again = await clients[0].send("raiseHand")
        assert again.ok and again.body["changed"] is False, "raising again keeps the first place"
        state = (await api.get(f"classes/{klass['id']}/state", headers=tutor.headers)).json()
        assert [h["userId"] for h in state["raisedHands"]] == [s.user_id for s in students]

        refused = await clients[0].send("lowerHand", {"userId": students[1].user_id})
        assert not refused.ok and refused.reason == "forbidden"
        assert (await tutor_client.send("lowerHand", {"userId": students[1].user_id})).ok
        lowered = await clients[2].wait_for(lambda m: m["type"] == "hand.lowered")
        assert lowered["userId"] == students[1].user_id and lowered["by"] == tutor.user_id
        assert (await clients[2].send("lowerHand")).ok
        by_moderation = await api.post(f"classes/{klass['id']}/moderation",
                                       json={"action": "lowerHand", "userId": students[0].user_id}, headers=tutor.headers)
        assert by_moderation.status_code == 200 and by_moderation.json()["changed"] is True
        state = (await api.get(f"classes/{klass['id']}/state", headers=tutor.headers)).json()
        assert state["raisedHands"] == []

        # Screen share and reactions: the tutor's stream, the room's emoji added up.
        student_share = await clients[0].send("screenShare", {"action": "start", "streamUrl": "https://x.example/s"})
        assert not student_share.ok and student_share.reason == "forbidden"
        insecure = await tutor_client.send("screenShare", {"action": "start", "streamUrl": "http://x.example/s"})
        assert not insecure.ok and insecure.reason == "invalid"
        for client in clients:
            assert (await client.send("reaction", {"emoji": "👏"})).ok
        assert (await clients[0].send("reaction", {"emoji": "💩"})).reason == "invalid-emoji"
        burst = await tutor_client.wait_for(lambda m: m["type"] == "reaction" and sum(m["counts"].values()) >= 1)
        await asyncio.sleep(0.6)
        total = sum(m["counts"].get("👏", 0) for m in tutor_client.of_type("reaction"))
        assert total == 3 and burst["classId"] == klass["id"]
        await close_all([tutor_client, *clients])
    finally:
        await session.close()


async def test_ending_the_class_closes_the_poll_lowers_hands_and_says_goodbye_last(api, actor):
    tutor = await actor("tutor")
    course, klass = await live_class(api, tutor)
    class_id = klass["id"]
    first, second = await enrolled_students(api, actor, course["id"], 2)
    session = new_session()
    try:
        tutor_client = await join(api, session, tutor, class_id)
        a = await join(api, session, first, class_id)
        b = await join(api, session, second, class_id)
        b_again = await join(api, session, second, class_id)  # a second tab
        await tutor_client.wait_for(lambda m: m["type"] == "presence.updated" and m["count"] == 3)

        poll = (await api.post(f"classes/{class_id}/polls", json={"question": "Done?", "options": ["yes", "no"]},
                               headers=tutor.headers)).json()
        assert (await a.send("vote", {"pollId": poll["id"], "option": 0})).ok
        assert (await b.send("raiseHand")).ok
        await b_again.close()
        await asyncio.sleep(1.0)

        ended = await api.post(f"classes/{class_id}/end", headers=tutor.headers)
        assert ended.status_code == 200 and ended.json()["status"] == "ended" and ended.json()["endedAt"]
        goodbye = await a.wait_for(lambda m: m["type"] == "class.ended")
        kinds = [m["type"] for m in a.messages]
        assert kinds[-1] == "class.ended", kinds
        closed = a.of_type("poll.closed")[-1]
        assert closed["pollId"] == poll["id"] and closed["counts"] == [1, 0]
        assert a.of_type("hand.lowered")[-1]["all"] is True
        assert closed["seq"] < goodbye["seq"]

        # After the goodbye the connections are taken out of the class group: no more class messages.
        await asyncio.sleep(1.0)
        count = len(a.messages)
        assert (await api.post(f"classes/{class_id}/end", headers=tutor.headers)).status_code == 200
        muted = await api.post(f"classes/{class_id}/moderation", json={"action": "mute", "userId": second.user_id},
                               headers=tutor.headers)
        assert muted.status_code == 200 and muted.json()["seq"] > goodbye["seq"]
        await asyncio.sleep(0.5)
        assert len(a.messages) == count

        refused = await a.send("chat", {"text": "anyone?"})
        assert not refused.ok and refused.reason == "class-ended"
        final = (await api.get(f"classes/{class_id}/polls/{poll['id']}", headers=first.headers)).json()
        assert final["status"] == "closed" and final["counts"] == [1, 0]
        await close_all([tutor_client, a, b])

        async def report():
            resp = await api.get(f"classes/{class_id}/attendance", headers=tutor.headers)
            assert resp.status_code == 200, resp.text
            body = resp.json()
            leaves = [r for r in body["rows"] if r["kind"] == "leave"]
            return body if len(body["rows"]) == 8 and len(leaves) == 4 else None

        body = await eventually(report, timeout=15)
        students = {s["userId"]: s for s in body["students"]}
        assert set(students) == {first.user_id, second.user_id}, "the tutor is not counted as a student"
        assert students[second.user_id]["connections"] == 2
        assert all(s["minutesPresent"] > 0 and not s["present"] for s in students.values())
        assert students[first.user_id]["name"] == first.name
    finally:
        await session.close()


async def test_the_class_survives_redis_losing_its_hot_state(api, actor, stack):
    import redis.asyncio as aioredis

    tutor = await actor("tutor")
    course, klass = await live_class(api, tutor)
    class_id = klass["id"]
    voter, talker = await enrolled_students(api, actor, course["id"], 2)
    session = new_session()
    r = aioredis.from_url(stack.redis_url, decode_responses=True)
    try:
        a = await join(api, session, voter, class_id)
        b = await join(api, session, talker, class_id)
        poll = (await api.post(f"classes/{class_id}/polls", json={"question": "Lost?", "options": ["x", "y", "z"]},
                               headers=tutor.headers)).json()
        assert (await a.send("vote", {"pollId": poll["id"], "option": 2})).ok
        assert (await b.send("chat", {"text": "remember me"})).ok
        before = (await api.get(f"classes/{class_id}/state", headers=tutor.headers)).json()

        # Redis restarts mid-class: every hot key of the class is gone.
        names = [k async for k in r.scan_iter(match=f"lectern:live:{{{class_id}}}:*")]
        assert names
        await r.delete(*names)

        after = (await api.get(f"classes/{class_id}/state", headers=tutor.headers)).json()
        assert after["seq"] > before["seq"], "seq keeps increasing, so every client sees a gap and reloads"
        assert after["status"] == "live"
        assert after["openPoll"]["id"] == poll["id"] and after["openPoll"]["counts"] == [0, 0, 1]
        assert [m["text"] for m in after["recentChat"]] == ["remember me"]

        changed = await a.send("vote", {"pollId": poll["id"], "option": 0})
        assert changed.ok
        assert (await b.send("vote", {"pollId": poll["id"], "option": 0})).ok
        closed = await api.post(f"classes/{class_id}/polls/{poll['id']}/close", headers=tutor.headers)
        assert closed.json()["counts"] == [2, 0, 0]
        await close_all([a, b])
    finally:
        await r.aclose()
        await session.close()
