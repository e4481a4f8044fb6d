"""Chat's refusals keep their reasons when Redis lost the class's facts or is down: the one
chat script asks for them again (filled from PostgreSQL), and while Redis is down a sender
who would be refused anyway still learns why."""

from __future__ import annotations

import pytest

from shared_code.adapters.postgres import chat as chat_sql
from shared_code.adapters.redis import keys
from shared_code.models.live import ModerationRequest
from shared_code.services.live import classes, moderation
from tests.integration.test_round_trips import app, class_with_poll, classmates, send_event  # noqa: F401

pytestmark = pytest.mark.timeout(120)


async def test_a_class_whose_status_and_flags_redis_lost_still_refuses_and_accepts_rightly(ctx, app):  # noqa: F811
    tutor, member, _ = await class_with_poll(ctx)
    muted, speaker = await classmates(ctx, member, 2)
    await moderation.moderate(ctx, tutor, member.class_id, ModerationRequest(action="mute", user_id=muted.user_id))
    await ctx.redis.delete(keys.live_meta(member.class_id), keys.live_moderation(member.class_id))

    refused = await send_event(app, ctx, muted, "chat", {"text": "hello?"})
    assert not refused["ok"] and refused["reason"] == "muted", refused
    await ctx.redis.delete(keys.live_meta(member.class_id), keys.live_moderation(member.class_id))
    accepted = await send_event(app, ctx, speaker, "chat", {"text": "hello"})
    assert accepted["ok"], accepted
    async with ctx.db.connection() as conn:
        assert [r["text"] for r in await chat_sql.page(conn, member.class_id, 10, None)] == ["hello"]

    await classes.end_class(ctx, tutor, member.class_id)
    await ctx.background.drain()
    await ctx.redis.delete(keys.live_meta(member.class_id))
    ended = await send_event(app, ctx, speaker, "chat", {"text": "anyone?"})
    assert not ended["ok"] and ended["reason"] == "class-ended", ended


async def test_while_redis_is_down_a_muted_sender_still_hears_why(ctx, app, redis_server):  # noqa: F811
    tutor, member, _ = await class_with_poll(ctx)
    muted, speaker = await classmates(ctx, member, 2)
    await moderation.moderate(ctx, tutor, member.class_id, ModerationRequest(action="mute", user_id=muted.user_id))
    assert (await send_event(app, ctx, speaker, "chat", {"text": "before"}))["ok"]

    redis_server.kill()
    refused = await send_event(app, ctx, muted, "chat", {"text": "hello?"})
    assert not refused["ok"] and refused["reason"] == "muted", refused
    unavailable = await send_event(app, ctx, speaker, "chat", {"text": "during"})
    assert not unavailable["ok"] and unavailable["reason"] == "unavailable", unavailable
    async with ctx.db.connection() as conn:
        assert [r["text"] for r in await chat_sql.page(conn, member.class_id, 10, None)] == ["before"]
