"""Redis side of video progress: heartbeat snapshots, the dirty sets the flush drains, and
each student's cached course progress.

A heartbeat is one script call: it applies the student's heartbeat rate, reads the previous snapshot, lets the watched time grow
by no more than the watch credit the server's clock has refilled since that snapshot (the
rule of `domain/watch.py`), never lets it move backwards, stores the new snapshot with
the credit left over, marks it dirty and answers with the new total and the cached course
progress.
The flush takes a batch of dirty members atomically into a `flushing` set and puts them
back if its database write fails. Errors propagate as `redis.exceptions.RedisError`; the
service decides how to degrade.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from shared_code.adapters.redis import keys, locks
from shared_code.adapters.redis.ratelimit import GCRA_FUNCTION
from shared_code.concurrency import ScriptBatcher

# A snapshot outlives many flush intervals; after a day of silence the next heartbeat
# starts again from the row in PostgreSQL.
SHARDS = keys.PROGRESS_SHARDS
SNAPSHOT_TTL_SECONDS = 24 * 3600
COURSE_PROGRESS_TTL_SECONDS = 600
FLUSH_LOCK_MS = 30_000
_SADD_CHUNK = 1000  # Lua's unpack() has a stack limit; add members in slices

# KEYS: snapshot, dirty set, course progress, the student's heartbeat rate key
# ARGV[2], ARGV[3]: the rate's emission interval (ms) and burst (0: no limit).
# ARGV[1]: one "|"-separated string (a single argument is far cheaper for the client to
# encode than fifteen): now_ms, position, claimed watched, duration, client_ms ('' = none),
# course id, dirty member, rate, allowance, gap limit, threshold, snapshot ttl, completable
# (0/1), then, only when Redis has no snapshot yet: baseline watched, baseline heard_at ms
# (0 = never heard), baseline completed, baseline credit.
# Returns {-1} when there is no snapshot and no baseline was given (nothing counted),
# {-2, retry-after ms} past the student's heartbeat rate (nothing recorded), else
# {watched, crossed (0/1), completed (0/1), course progress or false}.
# The rule is `earn` in domain/watch.py, step for step (a test holds them together).
_HEARTBEAT = GCRA_FUNCTION + """
local a = {}
for value in string.gmatch(ARGV[1] .. '|', '([^|]*)|') do
    a[#a + 1] = value
end
local prev = redis.call('HMGET', KEYS[1], 'w', 't', 'done', 'cr')
local watched, heard, done, credit
if prev[1] then
    watched = tonumber(prev[1]); heard = tonumber(prev[2]) or 0; done = prev[3] == '1'; credit = tonumber(prev[4]) or 0
elseif a[14] then
    watched = tonumber(a[14]); heard = tonumber(a[15]); done = a[16] == '1'; credit = tonumber(a[17]) or 0
else
    return {-1}
end
if tonumber(ARGV[3]) > 0 then
    local allowed, _, wait = gcra(KEYS[4], tonumber(ARGV[2]), tonumber(ARGV[3]), 1)
    if allowed == 0 then return {-2, wait} end
end
local now = tonumber(a[1])
local duration = tonumber(a[4])
local rate, allowance = tonumber(a[8]), tonumber(a[9])
local gap = (now - heard) / 1000
if heard <= 0 or gap > tonumber(a[10]) then
    credit = allowance
else
    credit = math.min(math.max(credit, 0), allowance) + math.max(0, gap) * rate
end
local target = math.min(tonumber(a[3]), duration)
local new_watched = watched
if target > watched then
    if target - watched <= credit then new_watched = target else new_watched = watched + credit end
end
local left = math.min(allowance, credit - (new_watched - watched))
local crossed = 0
if not done and a[13] == '1' and duration > 0 and new_watched >= tonumber(a[11]) * duration then
    crossed = 1
    done = true
end
local w = string.format('%.17g', new_watched)
redis.call('HSET', KEYS[1], 'w', w, 't', string.format('%.0f', math.max(now, heard)), 'p', a[2], 'd', a[4],
           'c', a[5], 'course', a[6], 'done', done and '1' or '0', 'cr', string.format('%.17g', left))
redis.call('EXPIRE', KEYS[1], a[12])
redis.call('SADD', KEYS[2], a[7])
local course = redis.call('GET', KEYS[3])
return {w, crossed, done and 1 or 0, course or false}
"""

# KEYS: dirty set, flushing set. ARGV: batch size.
_TAKE = f"""
if redis.call('EXISTS', KEYS[2]) == 1 then
    -- a flush of this shard stopped half-way: its members go back before new ones are taken
    redis.call('SUNIONSTORE', KEYS[1], KEYS[1], KEYS[2])
    redis.call('DEL', KEYS[2])
end
local members = redis.call('SPOP', KEYS[1], tonumber(ARGV[1]))
for i = 1, #members, {_SADD_CHUNK} do
    redis.call('SADD', KEYS[2], unpack(members, i, math.min(i + {_SADD_CHUNK} - 1, #members)))
end
return members
"""

# KEYS: snapshot keys. Returns one field list per key, in SNAPSHOT_FIELDS order.
_READ = """
local out = {}
for i, name in ipairs(KEYS) do
    out[i] = redis.call('HMGET', name, 'w', 'p', 'd', 't', 'c', 'course', 'done', 'cr')
end
return out
"""

# KEYS: dirty, flushing. Puts the taken members back after a failed write.
_GIVE_BACK = """
if redis.call('EXISTS', KEYS[2]) == 1 then
    redis.call('SUNIONSTORE', KEYS[1], KEYS[1], KEYS[2])
    redis.call('DEL', KEYS[2])
end
return 1
"""

# KEYS: snapshot. ARGV: watched, position, duration, heard_at ms, client ms, course, completed,
# credit.
# Raises a snapshot to at least what PostgreSQL now holds (after an offline sync), without
# lowering anything and without marking it dirty (the database already has it).
_MERGE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
    return 0
end
local prev = redis.call('HMGET', KEYS[1], 'w', 't', 'done')
local watched = math.max(tonumber(prev[1]) or 0, tonumber(ARGV[1]))
local done = prev[3] == '1' or ARGV[7] == '1'
redis.call('HSET', KEYS[1], 'w', tostring(watched), 'done', done and '1' or '0')
if tonumber(ARGV[4]) > (tonumber(prev[2]) or 0) then
    redis.call('HSET', KEYS[1], 'p', ARGV[2], 'd', ARGV[3], 't', ARGV[4], 'c', ARGV[5], 'cr', ARGV[8])
end
return 1
"""

@dataclass(frozen=True)
class Baseline:
    """What PostgreSQL knows when Redis has no snapshot yet (`heard_at_ms` 0: never heard)."""

    watched_seconds: float
    heard_at_ms: int
    completed: bool
    credit_seconds: float = 0.0


@dataclass(frozen=True)
class Rate:
    """The student's heartbeat rate, applied by the heartbeat script itself."""

    interval_ms: int
    limit: int


@dataclass(frozen=True)
class Refused:
    """Past the student's heartbeat rate: nothing was recorded."""

    retry_after_ms: int


@dataclass(frozen=True)
class Recorded:
    watched_seconds: float
    crossed: bool
    completed: bool
    course_progress: float | None


@dataclass
class SnapshotColumns:
    """Snapshots column by column, as text: the flush hands them to PostgreSQL as they are."""

    users: list[str] = field(default_factory=list)
    lessons: list[str] = field(default_factory=list)
    positions: list[str] = field(default_factory=list)
    watched: list[str] = field(default_factory=list)
    durations: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    client_ms: list[str] = field(default_factory=list)
    heard_ms: list[str] = field(default_factory=list)
    credits: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.users)


@dataclass(frozen=True)
class Snapshot:
    user_id: str
    lesson_id: str
    course_id: str
    watched_seconds: float
    position_seconds: float
    duration_seconds: float
    heard_at_ms: int
    client_ms: int | None
    completed: bool
    credit_seconds: float = 0.0


class ProgressStore:
    """The scripts, registered once per client (redis-py then calls them by SHA)."""

    def __init__(self, r: aioredis.Redis) -> None:
        self.redis = r
        self._heartbeats = ScriptBatcher(r, _HEARTBEAT)
        self._take = r.register_script(_TAKE)
        self._read = r.register_script(_READ)
        self._give_back = r.register_script(_GIVE_BACK)
        self._merge = r.register_script(_MERGE)

    async def record(
        self,
        *,
        user_id: str,
        lesson_id: str,
        course_id: str,
        now_ms: int,
        position: float,
        watched: float,
        duration: float,
        client_ms: int | None,
        rate: float,
        allowance: float,
        gap_limit: float,
        threshold: float,
        completable: bool = True,
        baseline: Baseline | None = None,
        limit: Rate | None = None,
    ) -> Recorded | Refused | None:
        """The recorded heartbeat; `Refused` past the student's rate `limit`; None when Redis has no snapshot and
        `baseline` is needed (nothing counted against the rate then).

        `completable` False records the time but never crosses the threshold (a video whose
        duration the server does not know yet)."""
        packed = (
            f"{now_ms}|{float(position)!r}|{float(watched)!r}|{float(duration)!r}|"
            f"{'' if client_ms is None else client_ms}|{course_id}|{member(user_id, lesson_id)}|"
            f"{rate!r}|{allowance!r}|{gap_limit!r}|{threshold!r}|{SNAPSHOT_TTL_SECONDS}|{'1' if completable else '0'}"
        )
        if baseline is not None:
            packed += (
                f"|{float(baseline.watched_seconds)!r}|{int(baseline.heard_at_ms)}|{'1' if baseline.completed else '0'}"
                f"|{float(baseline.credit_seconds)!r}"
            )
        shard = keys.progress_shard(user_id)
        names = [
            keys.progress_snapshot(user_id, lesson_id),
            keys.progress_dirty(shard),
            keys.progress_course(user_id, course_id),
            keys.progress_rate(user_id),
        ]
        limits: list[str | int] = [limit.interval_ms, limit.limit] if limit else [0, 0]
        out = await self._heartbeats.call(names, [packed, *limits])
        if out[0] == -1:
            return None
        if out[0] == -2:
            return Refused(int(out[1]))
        course = out[3]
        return Recorded(
            watched_seconds=float(out[0]),
            crossed=out[1] == 1,
            completed=out[2] == 1,
            course_progress=float(course) if course else None,
        )

    async def reopen(self, user_id: str, lesson_id: str) -> None:
        """Clears the completed flag after a completion could not be written to PostgreSQL,
        so the next heartbeat crosses the threshold again."""
        await self.redis.hset(keys.progress_snapshot(user_id, lesson_id), "done", "0")

    async def set_course_progress(self, user_id: str, course_id: str, value: float) -> None:
        await self.redis.set(keys.progress_course(user_id, course_id), repr(float(value)), ex=COURSE_PROGRESS_TTL_SECONDS)

    async def forget_course_progress(self, course_id: str, user_ids: list[str]) -> None:
        """Drops the cached course fractions of these students (the course's lessons changed)."""
        pipe = self.redis.pipeline(transaction=False)
        for user_id in user_ids:
            pipe.delete(keys.progress_course(user_id, course_id))
        await pipe.execute()

    async def merge(self, snapshot: Snapshot) -> None:
        await self._merge(
            keys=[keys.progress_snapshot(snapshot.user_id, snapshot.lesson_id)],
            args=[
                repr(snapshot.watched_seconds),
                repr(snapshot.position_seconds),
                repr(snapshot.duration_seconds),
                snapshot.heard_at_ms,
                "" if snapshot.client_ms is None else snapshot.client_ms,
                snapshot.course_id,
                "1" if snapshot.completed else "0",
                repr(float(snapshot.credit_seconds)),
            ],
        )

    # --- flush -------------------------------------------------------------------------
    async def lock_shard(self, shard: int, token: str) -> bool:
        return await locks.acquire(self.redis, keys.progress_flush_lock(shard), FLUSH_LOCK_MS, token) is not None

    async def unlock_shard(self, shard: int, token: str) -> None:
        await locks.release(self.redis, keys.progress_flush_lock(shard), token)

    async def take(self, shard: int, count: int) -> list[str]:
        """Up to `count` dirty members, moved atomically into the shard's flushing set."""
        return list(await self._take(keys=[keys.progress_dirty(shard), keys.progress_flushing(shard)], args=[count]))

    async def read(self, members: list[str]) -> SnapshotColumns:
        """The snapshots of `members` (one shard), column by column, values as Redis holds
        them (text); members whose snapshot expired are left out."""
        out = SnapshotColumns()
        if not members:
            return out
        pairs = [split_member(m) for m in members]
        rows = await self._read(keys=[keys.progress_snapshot(u, lesson) for u, lesson in pairs], args=[])
        for (user_id, lesson_id), (watched, position, duration, heard, client, course, done, credit) in zip(pairs, rows, strict=False):
            if watched is None or course is None:
                continue
            out.users.append(user_id)
            out.lessons.append(lesson_id)
            out.watched.append(watched)
            out.positions.append(position or "0")
            out.durations.append(duration or "0")
            out.heard_ms.append(heard or "0")
            out.client_ms.append(client or "")
            out.completed.append("1" if done == "1" else "0")
            out.credits.append(credit or "0")
        return out

    async def done(self, shard: int) -> None:
        """The flushing batch is in PostgreSQL: forget it."""
        await self.redis.delete(keys.progress_flushing(shard))

    async def give_back(self, shard: int) -> None:
        await self._give_back(keys=[keys.progress_dirty(shard), keys.progress_flushing(shard)], args=[])

    async def dirty_count(self, shards: Iterable[int] = range(SHARDS)) -> int:
        pipe = self.redis.pipeline(transaction=False)
        for shard in shards:
            pipe.scard(keys.progress_dirty(shard))
        return sum(await pipe.execute())


def member(user_id: str, lesson_id: str) -> str:
    return f"{user_id}:{lesson_id}"


def split_member(value: str) -> tuple[str, str]:
    user_id, _, lesson_id = value.partition(":")
    return user_id, lesson_id
