"""Redis side of an erasure (`services/privacy`): the hot copies of a user's name and words.

Each script touches one hash-tagged slot (a class, a course board), so it runs atomically
even on a cluster, and each is safe to run again: what it wrote already matches.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from shared_code.adapters.redis import keys
from shared_code.adapters.redis.client import Script

# KEYS: names, hands, recent chat. ARGV: user, placeholder name, placeholder text.
# The name is replaced only where one is held; the hand goes down; the user's recent
# messages keep their place in the list with the placeholder words and name.
_SCRUB_CLASS = Script("""
local changed = 0
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
    changed = changed + 1
end
changed = changed + redis.call('ZREM', KEYS[2], ARGV[1])
local items = redis.call('LRANGE', KEYS[3], 0, -1)
for i, item in ipairs(items) do
    local ok, decoded = pcall(cjson.decode, item)
    if ok and type(decoded) == 'table' and decoded['userId'] == ARGV[1]
        and (decoded['text'] ~= ARGV[3] or decoded['userName'] ~= ARGV[2]) then
        decoded['text'] = ARGV[3]
        decoded['userName'] = ARGV[2]
        redis.call('LSET', KEYS[3], i - 1, cjson.encode(decoded))
        changed = changed + 1
    end
end
return changed
""")

# KEYS: board names. ARGV: user, placeholder name. Points stay, keyed by the bare id.
_SCRUB_BOARD = Script("""
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 and redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
    return 1
end
return 0
""")


async def scrub_class(r: aioredis.Redis, class_id: str, user_id: str, name: str, text: str) -> int:
    """The user's name, raised hand and recent chat in one class's hot state; the number changed."""
    return int(
        await _SCRUB_CLASS.run(
            r,
            keys=[keys.live_names(class_id), keys.live_hands(class_id), keys.live_recent_chat(class_id)],
            args=[user_id, name, text],
        )
    )


async def scrub_board(r: aioredis.Redis, course_id: str, user_id: str, name: str) -> int:
    return int(await _SCRUB_BOARD.run(r, keys=[keys.leaderboard_names(course_id)], args=[user_id, name]))


async def forget_dashboard(r: aioredis.Redis, user_id: str) -> int:
    """The rendered dashboard is a cache; it is rebuilt (without a name) when asked for."""
    return int(await r.delete(keys.dashboard_snapshot(user_id)))


async def pending_progress(r: aioredis.Redis, user_id: str, limit: int | None) -> list[dict[str, Any]]:
    """The user's heartbeat snapshots the write-behind flush has not moved to PostgreSQL yet:
    the members of their shard's dirty and flushing sets that name them (`userId:lessonId`)."""
    shard = keys.progress_shard(user_id)
    lessons: list[str] = []
    for name in (keys.progress_dirty(shard), keys.progress_flushing(shard)):
        async for item in r.sscan_iter(name, match=f"{user_id}:*", count=1000):
            lesson_id = (item.decode() if isinstance(item, bytes) else str(item)).split(":", 1)[1]
            if lesson_id not in lessons:
                lessons.append(lesson_id)
            if limit is not None and len(lessons) >= limit:
                break
    pipe = r.pipeline(transaction=False)
    for lesson_id in lessons:
        pipe.hgetall(keys.progress_snapshot(user_id, lesson_id))
    out: list[dict[str, Any]] = []
    for lesson_id, raw in zip(lessons, await pipe.execute(), strict=True):
        snap = {(k.decode() if isinstance(k, bytes) else str(k)): (v.decode() if isinstance(v, bytes) else str(v))
                for k, v in (raw or {}).items()}
        if snap:
            out.append({"lessonId": lesson_id, "courseId": snap.get("course"), "positionSeconds": _num(snap.get("p")),
                        "watchedSeconds": _num(snap.get("w")), "durationSeconds": _num(snap.get("d")),
                        "completed": snap.get("done") == "1"})
    return out


def _num(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None
