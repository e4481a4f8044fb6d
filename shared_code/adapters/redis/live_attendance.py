"""Redis side of attendance: a class's join and leave rows wait in a stream of the class until
a process has written them to Table storage.

The presence scripts append a row in the same step that changes presence
(`ATTEND_FUNCTION`), so a row exists exactly when a connection joined or left, and it is in
Redis before the event is answered. A process takes rows through the stream's consumer
group `w` and acknowledges (and deletes) them only after the write, or its retry message,
is arranged. Rows whose process died in between stay pending in the group, and rows whose
process died before taking them stay new: `take` with `min_idle_ms` claims both for
whoever sweeps up after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as aioredis

from shared_code.adapters.redis import keys
from shared_code.adapters.redis.client import Script

# Appends one attendance row to the class's stream (creating the stream with its group, so
# the group sees every row from the first), as a Lua function of the presence scripts. The
# entry id is Redis's clock in ms: the row's time.
ATTEND_FUNCTION = """
local function attend(stream, kind, connection, user, ttl)
  if redis.call('EXISTS', stream) == 0 then redis.call('XGROUP', 'CREATE', stream, 'w', '$', 'MKSTREAM') end
  redis.call('XADD', stream, '*', 'k', kind, 'c', connection, 'u', user)
  redis.call('EXPIRE', stream, ttl)
end
"""

# KEYS: the class's attendance stream, its names hash. ARGV: consumer, count, min idle (ms,
# '' for new rows only). Rows pending longer than the idle time come first (claimed from
# the process that took them), then rows nobody took. A join row carries the user's name
# as the class holds it now, so an erasure in between is honoured.
# Returns {{entry id, kind, connection id, user id, name}, ...}.
_TAKE = Script("""
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local n = tonumber(ARGV[2])
local entries = {}
if ARGV[3] ~= '' then
  -- XPENDING's and XCLAIM's plain forms (Redis 5), not XAUTOCLAIM (6.2): Azure Cache for
  -- Redis 6 is 6.0.
  local idle = tonumber(ARGV[3])
  local ids = {}
  for _, p in ipairs(redis.call('XPENDING', KEYS[1], 'w', '-', '+', n)) do
    if tonumber(p[3]) >= idle then table.insert(ids, p[1]) end
  end
  if #ids > 0 then
    for _, e in ipairs(redis.call('XCLAIM', KEYS[1], 'w', ARGV[1], idle, unpack(ids))) do
      if e then table.insert(entries, e) end
    end
  end
end
if #entries < n then
  local fresh = redis.call('XREADGROUP', 'GROUP', 'w', ARGV[1], 'COUNT', n - #entries, 'STREAMS', KEYS[1], '>')
  if fresh then for _, e in ipairs(fresh[1][2]) do table.insert(entries, e) end end
end
local out = {}
for _, e in ipairs(entries) do
  local row = {}
  local fields = e[2]
  for i = 1, #fields, 2 do row[fields[i]] = fields[i + 1] end
  local name = ''
  if row['k'] == 'join' and row['u'] then name = redis.call('HGET', KEYS[2], row['u']) or '' end
  table.insert(out, {e[1], row['k'] or '', row['c'] or '', row['u'] or '', name})
end
return out
""")

# KEYS: the class's attendance stream. ARGV: entry ids. Written rows leave the stream.
_DONE = Script("""
redis.call('XACK', KEYS[1], 'w', unpack(ARGV))
return redis.call('XDEL', KEYS[1], unpack(ARGV))
""")


@dataclass(frozen=True)
class PendingRow:
    entry_id: str
    kind: str
    connection_id: str
    user_id: str
    name: str

    @property
    def at(self) -> datetime:
        """When Redis appended the row: the time in its entry id."""
        return datetime.fromtimestamp(int(self.entry_id.split("-", 1)[0]) / 1000, UTC)


async def take(
    r: aioredis.Redis, class_id: str, consumer: str, *, count: int, min_idle_ms: int | None = None
) -> list[PendingRow]:
    """Up to `count` rows of the class for `consumer` to write: new ones, and with
    `min_idle_ms` also those another consumer took that long ago without finishing."""
    reply = await _TAKE.run(
        r, keys=[keys.live_attendance(class_id), keys.live_names(class_id)],
        args=[consumer, count, "" if min_idle_ms is None else min_idle_ms],
    )
    return [PendingRow(*(str(part) for part in row)) for row in reply]


async def done(r: aioredis.Redis, class_id: str, entry_ids: list[str]) -> None:
    """The rows are written (or their retry is queued): they leave the stream."""
    if entry_ids:
        await _DONE.run(r, keys=[keys.live_attendance(class_id)], args=entry_ids)
