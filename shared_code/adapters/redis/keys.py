"""Every Redis key the app uses, in one place, so no two areas can collide.

Areas add their own section below; nothing outside shared_code/adapters/redis spells a key.
"""

from __future__ import annotations

import zlib

PREFIX = "lectern"


def _k(*parts: object) -> str:
    return ":".join((PREFIX, *(str(p) for p in parts)))


# --- system --------------------------------------------------------------------------
def health_probe() -> str:
    return _k("health", "probe")


def rate_limit(bucket: str, subject: str) -> str:
    return _k("rl", bucket, subject)


# --- users -----------------------------------------------------------------------------
def user_account(user_id: str) -> str:
    """The user's stored name and roles, cached for a short while (seconds, not minutes)."""
    return f"{PREFIX}:user:{user_id}:account"


# --- content ---------------------------------------------------------------------------
# Every key of one course carries the hash tag `{<courseId>}`, so a read can fetch the
# course's generation, rows and the caller's membership with one MGET even on a cluster.
# These are built on every lesson read, so they are plain f-strings.
def content_generation(course_id: str) -> str:
    """A random token replaced on every write to the course; cache entries carry the token they were read under."""
    return f"{PREFIX}:content:{{{course_id}}}:gen"


def content_course(course_id: str) -> str:
    return f"{PREFIX}:content:{{{course_id}}}:course"


def content_lessons(course_id: str) -> str:
    return f"{PREFIX}:content:{{{course_id}}}:lessons"


def content_lesson(course_id: str, lesson_id: str) -> str:
    return f"{PREFIX}:content:{{{course_id}}}:lesson:{lesson_id}"


def content_member(course_id: str, user_id: str) -> str:
    return f"{PREFIX}:content:{{{course_id}}}:member:{user_id}"


def content_lesson_course(lesson_id: str) -> str:
    """Which course a lesson belongs to (never changes once the lesson exists)."""
    return _k("content", "lesson-course", lesson_id)


def content_fill_lock(name: str) -> str:
    """Held for a moment by the one process that refills a cold entry."""
    return _k("content", "fill-lock", name)


# --- live classes ----------------------------------------------------------------------
# Every key of one class carries the hash tag `{<classId>}`, so the Lua scripts that
# allocate a sequence number and change the class's state in one step touch one slot.
def _class(class_id: str, *parts: object) -> str:
    return _k("live", "{" + str(class_id) + "}", *parts)


def live_seq(class_id: str) -> str:
    """The class's message sequence number (INCR per class-wide message)."""
    return _class(class_id, "seq")


def live_meta(class_id: str) -> str:
    """Hash: courseId, tutorId, title, status, screenShare (JSON) — the class as live clients see it."""
    return _class(class_id, "meta")


def live_connections(class_id: str) -> str:
    """Hash: connectionId → userId of every connection in the class."""
    return _class(class_id, "conns")


def live_present(class_id: str) -> str:
    """Hash: userId → number of open connections (several tabs count once)."""
    return _class(class_id, "present")


def live_names(class_id: str) -> str:
    """Hash: userId → display name, for hands and chat."""
    return _class(class_id, "names")


def live_attendance(class_id: str) -> str:
    """Stream: the class's join and leave rows (kind, connectionId, userId) on their way to
    Table storage; its consumer group `w` tracks which a process took and has not written."""
    return _class(class_id, "attendance")


def live_hands(class_id: str) -> str:
    """Sorted set: userId scored by the time the hand went up."""
    return _class(class_id, "hands")


def live_recent_chat(class_id: str) -> str:
    """List: the newest chat messages as JSON, newest first."""
    return _class(class_id, "chat")


def live_moderation(class_id: str) -> str:
    """Hash: userId → 'm' (muted), 'b' (banned), 'mb'; field '~loaded' once filled from PostgreSQL."""
    return _class(class_id, "mod")


def live_open_poll(class_id: str) -> str:
    """Hash: id, status, options (count), question, optionsJson, openedAt, version of the class's current poll."""
    return _class(class_id, "poll")


def live_poll_votes(class_id: str) -> str:
    """Hash: userId → option of the current poll."""
    return _class(class_id, "poll", "votes")


def live_poll_counts(class_id: str) -> str:
    """Hash: option → votes of the current poll."""
    return _class(class_id, "poll", "counts")


def live_past_polls(class_id: str) -> str:
    """Set: the ids of the class's earlier polls, so a vote for one is refused as closed
    by the vote script itself."""
    return _class(class_id, "polls")


def live_vote_rate(class_id: str, user_id: str) -> str:
    """The voter's rate-limit key (GCRA), in the class's slot so the vote script applies it."""
    return _class(class_id, "rl", "vote", user_id)


def live_event_rate(class_id: str, event: str, user_id: str) -> str:
    """The sender's rate-limit key (GCRA) for one kind of client event (chat, hand,
    reaction), in the class's slot so the event's own script applies it."""
    return _class(class_id, "rl", event, user_id)


def live_reactions(class_id: str) -> str:
    """Hash: emoji → reactions since the last reaction broadcast."""
    return _class(class_id, "reactions")


def live_broadcast_pending(class_id: str, topic: str) -> str:
    """Set (NX, PX) while a throttled broadcast of `topic` is scheduled for the class."""
    return _class(class_id, "pending", topic)


def live_empty_since(class_id: str) -> str:
    """When the presence sweep first found nobody in the class (ms); gone once someone is."""
    return _class(class_id, "empty-since")


def live_admitted(class_id: str) -> str:
    """Sorted set: connectionId scored by when connect admitted it (ms), for the class cap."""
    return _class(class_id, "admitted")


def live_admitted_user(class_id: str, user_id: str) -> str:
    """Sorted set: the user's admitted connectionIds in the class, for the per-user cap."""
    return _class(class_id, "admitted", user_id)


def live_admission_heal(class_id: str) -> str:
    """Set (NX, PX) while one refused connect checks the class's admitted connections with Web PubSub."""
    return _class(class_id, "admitted-heal")


def live_personal_admitted(user_id: str) -> str:
    """Sorted set: the user's admitted personal (outside any class) connectionIds, scored by admission (ms)."""
    return _k("live", "personal", "{" + str(user_id) + "}", "admitted")


# --- progress ----------------------------------------------------------------------------
# Heartbeat snapshots are spread over PROGRESS_SHARDS hash tags by user id. A shard's
# snapshots, its dirty set and its flush bookkeeping share one slot, so the heartbeat and
# flush scripts each touch a single slot even on a cluster, and shards flush in parallel.
PROGRESS_SHARDS = 16


def progress_shard(user_id: str) -> int:
    return zlib.crc32(str(user_id).encode()) % PROGRESS_SHARDS


# Built per heartbeat and per flushed snapshot, so plain f-strings.
def progress_snapshot(user_id: str, lesson_id: str) -> str:
    """A hash: the latest heartbeat of one student on one lesson."""
    return f"{PREFIX}:progress:{{p{progress_shard(user_id)}}}:snap:{user_id}:{lesson_id}"


def progress_course(user_id: str, course_id: str) -> str:
    """The student's cached course progress (completed lessons / lessons)."""
    return f"{PREFIX}:progress:{{p{progress_shard(user_id)}}}:course:{user_id}:{course_id}"


def progress_rate(user_id: str) -> str:
    """The student's heartbeat rate-limit key (GCRA), in their shard's slot so the heartbeat
    script applies it."""
    return f"{PREFIX}:progress:{{p{progress_shard(user_id)}}}:rl:{user_id}"


def progress_dirty(shard: int) -> str:
    """Set of `userId:lessonId` whose snapshot changed since the last flush."""
    return f"{PREFIX}:progress:{{p{shard}}}:dirty"


def progress_flushing(shard: int) -> str:
    """Members taken by the flush in progress; put back into the dirty set if it fails."""
    return f"{PREFIX}:progress:{{p{shard}}}:flushing"


def progress_flush_lock(shard: int) -> str:
    return f"{PREFIX}:progress:{{p{shard}}}:flush-lock"


# --- leaderboards --------------------------------------------------------------------------
# Every key of one course's leaderboard carries the hash tag `{<courseId>}`, so the
# record script updates the best-per-quiz hash and the sorted set atomically.
def _board(course_id: str, *parts: object) -> str:
    return _k("board", "{" + str(course_id) + "}", *parts)


def leaderboard_points(course_id: str) -> str:
    """Sorted set: user id → points (the sum of their best score per quiz)."""
    return _board(course_id, "points")


def leaderboard_best(course_id: str, user_id: str) -> str:
    """Hash: quiz id → the user's best score in it."""
    return _board(course_id, "best", user_id)


def leaderboard_names(course_id: str) -> str:
    """Hash: user id → display name, so a top-N read needs no database."""
    return _board(course_id, "names")


def leaderboard_ready(course_id: str) -> str:
    """Present while the board holds everything PostgreSQL held when it was last rebuilt."""
    return _board(course_id, "ready")


def leaderboard_rebuild_lock(course_id: str) -> str:
    return _board(course_id, "rebuild-lock")


# --- dashboards ----------------------------------------------------------------------------
def dashboard_snapshot(user_id: str) -> str:
    """The student's rendered dashboard, tagged with the version it was built under."""
    return _k("dashboard", "{" + str(user_id) + "}", "snapshot")


def dashboard_version(user_id: str) -> str:
    """Incremented by every change that affects the dashboard; older snapshots stop matching."""
    return _k("dashboard", "{" + str(user_id) + "}", "version")


def dashboard_epoch() -> str:
    """Incremented when a change affects every dashboard at once (a course taken down or
    restored); part of every snapshot's version, so all older snapshots stop matching."""
    return _k("dashboard", "epoch")
