"""The watch rule: how watched time is earned, when a lesson is complete, how an offline
batch folds into what is stored. Pure: no store, no clock of its own (times come in as
server milliseconds), so every rule here is tested with explicit times.

Watched time is earned, not claimed, and the server's clock pays for it. Each (student,
lesson) carries a watch credit: the seconds of viewing the server's clock has paid for and
the player has not yet claimed. Between two heartbeats the credit grows by the wall-clock
time between them × `RATE` (playback at up to 1.5×); a heartbeat's claim is taken up to
the credit and the rest is carried, but never more than `ALLOWANCE_SECONDS` of it. Only a
session's first heartbeat (none before, or a pause longer than `GAP_LIMIT_SECONDS`) starts
with the allowance. The Redis heartbeat script applies `earn` step for step; the
write-through path and the offline sync call it here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

RATE = 1.5
ALLOWANCE_SECONDS = 5.0
GAP_LIMIT_SECONDS = 300.0


@dataclass(frozen=True)
class Watch:
    """One student's standing on one lesson, as far as the watch rule needs it."""

    watched: float
    heard_ms: int | None  # server time of the last heartbeat or applied event; None: never
    credit: float = 0.0  # seconds paid for by the clock and not yet claimed (≤ the allowance)


NEVER = Watch(watched=0.0, heard_ms=None, credit=0.0)


def earn(state: Watch, at_ms: int, claimed: float, duration: float) -> Watch:
    """The standing after a claim of `claimed` watched seconds heard at server time `at_ms`.

    A new session (nothing heard before, or silence longer than the gap limit) starts with
    the allowance; otherwise the credit carried (at most the allowance) grows by the time
    since the last observation × `RATE`. The claim is taken up to the credit and the
    duration, never lowering what is recorded; what is left is carried, capped again.
    """
    gap_ms = None if state.heard_ms is None or state.heard_ms <= 0 else at_ms - state.heard_ms
    if gap_ms is None or gap_ms / 1000 > GAP_LIMIT_SECONDS:
        credit = ALLOWANCE_SECONDS
    else:
        credit = min(max(state.credit, 0.0), ALLOWANCE_SECONDS) + max(0, gap_ms / 1000) * RATE
    target = min(claimed, duration)
    watched = state.watched
    if target > watched:
        watched = target if target - watched <= credit else watched + credit
    left = min(ALLOWANCE_SECONDS, credit - (watched - state.watched))
    heard = at_ms if state.heard_ms is None else max(state.heard_ms, at_ms)
    return Watch(watched=watched, heard_ms=heard, credit=left)


def is_complete(watched: float, duration: float, threshold: float) -> bool:
    return duration > 0 and watched >= threshold * duration


def course_fraction(completed: int, total: int) -> float:
    return round(min(completed, total) / total, 4) if total > 0 else 0.0


@dataclass(frozen=True)
class Folded:
    watched: float
    position: float | None  # None: no event was newer than what was known
    latest_ms: int | None
    credit: float = 0.0


def fold_events(start: Watch, events: Iterable[tuple[int, float, float]], duration: float) -> Folded:
    """Applies offline events `(server-clamped ms, watched, position)` to `start` through `earn`.

    Events are taken in time order whatever order they came in; an event no newer than the
    last observation teaches nothing (so duplicates and replays change nothing).
    """
    state = start
    position: float | None = None
    # Ties on time: the largest claim first, so which duplicate wins never depends on the
    # order they were sent in.
    for at_ms, claimed, pos in sorted(events, key=lambda e: (e[0], -e[1], -e[2])):
        if state.heard_ms is not None and at_ms <= state.heard_ms:
            continue
        state = earn(state, at_ms, claimed, duration)
        position = min(pos, duration)
    return Folded(watched=state.watched, position=position, latest_ms=state.heard_ms, credit=state.credit)


def merge_offline(stored: Watch, events: list[tuple[int, float, float]], duration: float) -> Folded:
    """What an offline batch adds to a stored lesson: the better of two readings.

    Continued: the batch applied after what is stored (only events newer than the last
    observation count, with the stored credit). Alone: the batch on its own, from nothing;
    this is what lets a batch from before the latest online heartbeat (another device, a
    queue that waited) still count, but only instead of what is stored, never added to it.
    Both readings are the same every time the same batch arrives, so replays add nothing.
    """
    continued = fold_events(stored, events, duration)
    alone = fold_events(NEVER, events, duration)
    return Folded(
        watched=max(continued.watched, alone.watched),
        position=continued.position,
        latest_ms=continued.latest_ms,
        credit=continued.credit,
    )


def clamp_event_ms(client_ms: int, now_ms: int) -> int:
    """A client's event time as the server will count it: never later than now."""
    return min(client_ms, now_ms)


def millis(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def stored_watch(row: dict[str, Any] | None) -> Watch:
    """The rule's state as PostgreSQL holds it (a row without a credit has none left)."""
    if row is None:
        return NEVER
    return Watch(
        watched=float(row["watched_seconds"]),
        heard_ms=millis(row["updated_at"]),
        credit=float(row["watch_credit_seconds"] or 0.0),
    )


def held_duration(lesson: dict[str, Any], claimed: float) -> tuple[float, bool]:
    """The duration to hold claims to, and whether watching can complete the lesson.

    The lesson's own duration when it has one: a client cannot shorten a video to finish
    it. Without one, the client's figure only caps what is recorded; a video then cannot
    complete (its length is the server's to know: from the tutor or the video asset).
    Only a video completes by watching: a quiz lesson completes when its quiz is passed, a
    document lesson when its material is opened, whatever watch time is claimed for them.
    """
    watchable = lesson.get("kind") == "video"
    known = lesson.get("duration_seconds")
    if known:
        return float(known), watchable
    return float(claimed), False
