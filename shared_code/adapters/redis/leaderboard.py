"""Redis side of course leaderboards: a sorted set of points per course, fed by a hash of
each student's best score per quiz, plus display names.

Every write merges with `max` semantics (a best score only ever rises), so recording an
attempt and rebuilding from PostgreSQL can interleave in any order and still converge on
the same board. A `ready` marker says the board was rebuilt from PostgreSQL; without it
readers rebuild first (one of them, under a short lock). Errors propagate as
`redis.exceptions.RedisError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from shared_code.adapters.redis import keys, locks

# A rebuilt board is trusted this long; the next reader after that rebuilds it again,
# which also heals anything an evicted key or a lost update left behind.
READY_TTL_SECONDS = 6 * 3600
REBUILD_LOCK_MS = 10_000
REBUILD_CHUNK = 500  # students per merge call, so one call never blocks Redis for long

# KEYS: ready, best(user), points, names. ARGV: quiz, score, user, name ('' keeps the name
# the board has: a placing from a parked effect written before names were kept in it).
# {-1} when the board is not built; else {points before or false, points after}.
_RECORD = """
if redis.call('EXISTS', KEYS[1]) == 0 then
    return {-1}
end
local before = redis.call('ZSCORE', KEYS[3], ARGV[3])
local old = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '-1')
if tonumber(ARGV[2]) > old then
    redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
end
local total = 0
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do
    total = total + tonumber(v)
end
redis.call('ZADD', KEYS[3], total, ARGV[3])
if ARGV[4] ~= '' then
    redis.call('HSET', KEYS[4], ARGV[3], ARGV[4])
end
return {before or false, tostring(total)}
"""

# KEYS: points, names, then one best-hash per student in ARGV order.
# ARGV: for each student: user id, name, quiz count, then quiz id / best pairs.
_MERGE = """
local at = 1
for k = 3, #KEYS do
    local user, name, n = ARGV[at], ARGV[at + 1], tonumber(ARGV[at + 2])
    at = at + 3
    for _ = 1, n do
        local quiz, best = ARGV[at], tonumber(ARGV[at + 1])
        at = at + 2
        local old = tonumber(redis.call('HGET', KEYS[k], quiz) or '-1')
        if best > old then
            redis.call('HSET', KEYS[k], quiz, best)
        end
    end
    local total = 0
    for _, v in ipairs(redis.call('HVALS', KEYS[k])) do
        total = total + tonumber(v)
    end
    redis.call('ZADD', KEYS[1], total, user)
    redis.call('HSET', KEYS[2], user, name)
end
return #KEYS - 2
"""

# KEYS: points, names, ready. ARGV: limit, user.
# {0} when not built; else {1, participants, top (id, points, ...), top names, my points or false, ahead of me, my name}.
_READ = """
if redis.call('EXISTS', KEYS[3]) == 0 then
    return {0}
end
local top = {}
if tonumber(ARGV[1]) > 0 then
    top = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
end
local ids = {}
for i = 1, #top, 2 do
    ids[#ids + 1] = top[i]
end
local names = {}
if #ids > 0 then
    names = redis.call('HMGET', KEYS[2], unpack(ids))
end
local mine = redis.call('ZSCORE', KEYS[1], ARGV[2])
local points = mine and tonumber(mine) or 0
local ahead = redis.call('ZCOUNT', KEYS[1], '(' .. points, '+inf')
return {1, redis.call('ZCARD', KEYS[1]), top, names, mine or false, ahead, redis.call('HGET', KEYS[2], ARGV[2]) or false}
"""

@dataclass(frozen=True)
class Board:
    participants: int
    top: list[tuple[str, str | None, int]]  # user id, name, points; best first
    my_points: int | None  # None: the user has no attempt in this course
    ahead_of_me: int  # how many have strictly more points than the user (or than 0)
    my_name: str | None


@dataclass(frozen=True)
class Standing:
    points: int | None
    ahead: int


class LeaderboardStore:
    def __init__(self, r: aioredis.Redis) -> None:
        self.redis = r
        self._record = r.register_script(_RECORD)
        self._merge = r.register_script(_MERGE)
        self._read = r.register_script(_READ)

    async def record(self, course_id: str, user_id: str, name: str, quiz_id: str, score: int) -> tuple[int | None, int] | None:
        """(points before, points after) for the student, or None when the board is not built."""
        out = await self._record(
            keys=[
                keys.leaderboard_ready(course_id),
                keys.leaderboard_best(course_id, user_id),
                keys.leaderboard_points(course_id),
                keys.leaderboard_names(course_id),
            ],
            args=[quiz_id, int(score), user_id, name],
        )
        if out[0] == -1:
            return None
        before = int(float(out[0])) if out[0] else None
        return before, int(float(out[1]))

    async def try_lock(self, course_id: str) -> str | None:
        return await locks.acquire(self.redis, keys.leaderboard_rebuild_lock(course_id), REBUILD_LOCK_MS)

    async def unlock(self, course_id: str, token: str) -> None:
        await locks.release(self.redis, keys.leaderboard_rebuild_lock(course_id), token)

    async def merge(self, course_id: str, bests: dict[str, tuple[str, dict[str, int]]]) -> None:
        """Merges {user id: (name, {quiz id: best})} into the board, in chunks."""
        users = list(bests)
        for start in range(0, len(users), REBUILD_CHUNK):
            chunk = users[start : start + REBUILD_CHUNK]
            names = [keys.leaderboard_points(course_id), keys.leaderboard_names(course_id)]
            args: list[Any] = []
            for user_id in chunk:
                name, quizzes = bests[user_id]
                names.append(keys.leaderboard_best(course_id, user_id))
                args.extend((user_id, name, len(quizzes)))
                for quiz_id, best in quizzes.items():
                    args.extend((quiz_id, int(best)))
            await self._merge(keys=names, args=args)

    async def reset(self, course_id: str) -> None:
        """Drops the course's board (a quiz left the course: its points must go), so the next
        read rebuilds it from PostgreSQL. Not-ready first, so no attempt lands on a half-dropped board."""
        await self.redis.delete(keys.leaderboard_ready(course_id))
        members = await self.redis.zrange(keys.leaderboard_points(course_id), 0, -1)
        names = [keys.leaderboard_points(course_id), keys.leaderboard_names(course_id)]
        names += [keys.leaderboard_best(course_id, m.decode() if isinstance(m, bytes) else str(m)) for m in members]
        for start in range(0, len(names), REBUILD_CHUNK):
            await self.redis.delete(*names[start : start + REBUILD_CHUNK])

    async def mark_ready(self, course_id: str) -> None:
        await self.redis.set(keys.leaderboard_ready(course_id), "1", ex=READY_TTL_SECONDS)

    async def is_ready(self, course_id: str) -> bool:
        return bool(await self.redis.exists(keys.leaderboard_ready(course_id)))

    async def read(self, course_id: str, user_id: str, limit: int) -> Board | None:
        """The top `limit` and the user's standing in one round trip; None when not built."""
        out = await self._read(
            keys=[keys.leaderboard_points(course_id), keys.leaderboard_names(course_id), keys.leaderboard_ready(course_id)],
            args=[limit, user_id],
        )
        if out[0] == 0:
            return None
        _, participants, flat, names, mine, ahead, my_name = out
        top = [
            (flat[i], names[i // 2] or None, int(float(flat[i + 1])))
            for i in range(0, len(flat), 2)
        ]
        return Board(
            participants=int(participants),
            top=top,
            my_points=int(float(mine)) if mine else None,
            ahead_of_me=int(ahead),
            my_name=my_name or None,
        )

    async def standings(self, course_ids: Sequence[str], user_id: str) -> dict[str, Standing | None]:
        """The user's standing in several courses in one round trip (None where not built)."""
        pipe = self.redis.pipeline(transaction=False)
        for course_id in course_ids:
            await self._read(
                keys=[keys.leaderboard_points(course_id), keys.leaderboard_names(course_id), keys.leaderboard_ready(course_id)],
                args=[0, user_id],
                client=pipe,
            )
        results = await pipe.execute()
        out: dict[str, Standing | None] = {}
        for course_id, res in zip(course_ids, results, strict=False):
            if res[0] == 0:
                out[course_id] = None
            else:
                out[course_id] = Standing(points=int(float(res[4])) if res[4] else None, ahead=int(res[5]))
        return out
