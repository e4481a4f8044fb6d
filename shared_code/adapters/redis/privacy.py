"""Redis side of an erasure (`services/privacy`): the hot copies of a user's name and words.

Each script touches one hash-tagged slot (a class, a course board), so it runs atomically
even on a cluster, and each is safe to run again: what it wrote already matches.
"""

from __future__ import annotations

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
