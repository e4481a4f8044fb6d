"""One class that makes the server send every message of the live contract once, each
checked against docs/asyncapi.json as it arrives (tests/support/live_contract.py; the ring's
autouse check fails the test on any message outside it). A type the server never sends here
would be one the contract promises without a test behind it."""

from __future__ import annotations

import uuid

import pytest

from shared_code.models import live_messages
from tests.support import live_contract
from tests.support.content import add_quiz
from tests.support.live import close_all, connect_personal, enrolled_students, join, live_class, new_session

pytestmark = pytest.mark.timeout(120)

# Sent only by the payment webhooks and by completing a video lesson; covered by their own
# tests (the same receive path checks them there).
ELSEWHERE = {"purchase.completed", "purchase.refunded", "progress.updated", "material.published"}


async def test_every_live_message_the_server_sends_fits_the_contract(api, actor):
    tutor = await actor("tutor")
    course, klass = await live_class(api, tutor, started=False)
    class_id = klass["id"]
    ada, ben = await enrolled_students(api, actor, course["id"], 2)
    quiz = await add_quiz(api, tutor, course["id"])
    session = new_session()
    seen: list[dict] = []
    try:
        teacher = await join(api, session, tutor, class_id)
        ada_live = await join(api, session, ada, class_id)
        ben_live = await join(api, session, ben, class_id)
        personal = await connect_personal(api, session, ada)

        assert (await api.post(f"classes/{class_id}/start", headers=tutor.headers)).status_code == 200
        await teacher.wait_for(lambda m: m["type"] == "class.started")
        await teacher.wait_for(lambda m: m["type"] == "presence.updated")

        chat = await ada_live.send("chat", {"text": "hello"})
        assert chat.ok
        moderation = f"classes/{class_id}/moderation"
        assert (await api.post(moderation, headers=tutor.headers,
                               json={"action": "deleteMessage", "messageId": chat.body["messageId"]})).status_code == 200
        await teacher.wait_for(lambda m: m["type"] == "chat.deleted")

        poll = (await api.post(f"classes/{class_id}/polls", headers=tutor.headers,
                               json={"question": "Ready?", "options": ["yes", "no"]})).json()
        assert (await ada_live.send("vote", {"pollId": poll["id"], "option": 0})).ok
        await teacher.wait_for(lambda m: m["type"] == "poll.tally")
        assert (await api.post(f"classes/{class_id}/polls/{poll['id']}/close", headers=tutor.headers)).status_code == 200
        await teacher.wait_for(lambda m: m["type"] == "poll.closed")

        assert (await ben_live.send("raiseHand")).ok
        assert (await ben_live.send("lowerHand")).ok
        assert (await ada_live.send("reaction", {"emoji": "🎉"})).ok
        await teacher.wait_for(lambda m: m["type"] == "reaction")
        assert (await teacher.send("screenShare", {"action": "start", "streamUrl": "https://stream.example/s/1"})).ok
        assert (await teacher.send("screenShare", {"action": "stop"})).ok
        await teacher.wait_for(lambda m: m["type"] == "screenShare.stopped")
        refused = await ada_live.send("vote", {"pollId": str(uuid.uuid4()), "option": 0})
        assert not refused.ok  # a refusal's ack fits the contract too

        for action in ("mute", "remove"):
            assert (await api.post(moderation, headers=tutor.headers,
                                   json={"action": action, "userId": ben.user_id})).status_code == 200
        await teacher.wait_for(lambda m: m["type"] == "moderation.removed")

        attempt = await api.post(f"quizzes/{quiz['id']}/attempts", json={"answers": [[1]]},
                                 headers={**ada.headers, "Idempotency-Key": uuid.uuid4().hex})
        assert attempt.status_code == 201, attempt.text
        await personal.wait_for(lambda m: m["type"] == "quiz.graded")

        assert (await api.post(f"classes/{class_id}/end", headers=tutor.headers)).status_code == 200
        await teacher.wait_for(lambda m: m["type"] == "class.ended")
        seen = [*teacher.messages, *ada_live.messages, *ben_live.messages, *personal.messages]
        await close_all([teacher, ada_live, ben_live, personal])
    finally:
        await session.close()

    assert not live_contract.VIOLATIONS, live_contract.VIOLATIONS[:5]
    sent = {m["type"] for m in seen} | {"ack"}
    documented = {live_messages.message_type(m) for m in live_messages.SERVER_MESSAGES}
    assert documented - ELSEWHERE <= sent, documented - ELSEWHERE - sent
    assert sent <= documented, sent - documented
